"""The Host allowlist (host_check.py): a page whose DNS name is rebound to 127.0.0.1 reaches the
sidecar with its own name in Host and is refused (421) on every surface in that surface's error
shape, while the SDKs (Host: 127.0.0.1:port, localhost:port) and the names in
`server.allowed_hosts` pass."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import orjson
import pytest

from arbiter import config
from arbiter.cli import main
from arbiter.errors import ArbiterError, ConfigError
from arbiter.host_check import (
    HostCheck,
    MisdirectedRequest,
    allowed_hosts_problem,
    bind_warning,
)
from tests.conftest import ENV, Sidecar
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sim_requests

USER = [{"role": "user", "content": "Say hi."}]
REBOUND = "evil.example:8787"


@pytest.fixture(scope="module")
def sidecar(module_sidecar: Sidecar) -> Sidecar:
    """One sidecar for this module's tests: each sends a request of its own and reads only
    its answer (the in-process ones build their own)."""
    return module_sidecar


@pytest.mark.parametrize(
    "host",
    [
        None,  # no Host at all: not a browser
        "127.0.0.1:8787",
        "127.0.0.1",
        "localhost:8787",
        "LocalHost:9999",  # any port, any letter case
        "[::1]:8787",
        "[::1]",
        "10.1.2.3:80",  # an IP address: rebinding needs a DNS name
        "[fe80::1]:8787",
        "sidecar.internal:8787",  # the bind address
        "arbiter:1",  # allowed_hosts
    ],
)
def test_local_names_addresses_and_allowed_hosts_pass(host: str | None) -> None:
    HostCheck("sidecar.internal", 8787, ["arbiter"]).check(host)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8787",
        "evil.example",
        "localhost.evil.example:8787",
        "127.0.0.1.evil.example",
        "localhost:8787@evil.example",
        "localhost:http",
        "localhost:",
        "[::1]x",
        "[::1",
        "127.0.0.1:99999999",
        "",
        "arbiter.evil.example",
    ],
)
def test_other_names_are_refused(host: str) -> None:
    with pytest.raises(MisdirectedRequest) as caught:
        HostCheck("127.0.0.1", 8787, ["arbiter"]).check(host)
    assert caught.value.status == 421


def test_a_wildcard_bind_adds_no_name_and_star_turns_the_check_off() -> None:
    with pytest.raises(MisdirectedRequest):
        HostCheck("0.0.0.0", 8787, []).check("0.0.0.0.evil.example")
    HostCheck("::", 8787, []).check("[::]:8787")  # an address, as any address
    HostCheck("::1", 8787, []).check("[::1]:8787")  # a v6 bind address is bracketed in Host
    HostCheck("0.0.0.0", 8787, ["*"]).check(REBOUND)


@pytest.mark.parametrize(
    ("allowed", "hosts"),
    [
        ([], [b"127.0.0.1:8787"]),  # the usual request: the fast path
        ([], [b"LocalHost:9999"]),  # other case and port: past the exact set, still allowed
        ([], [b"10.1.2.3"]),
        ([], [b"evil.example:8787"]),
        ([], [b"127.0.0.1:8787", b"127.0.0.1:8787"]),  # two, even both local: 400
        ([], []),
        (["*"], [b"evil.example"]),
        (["*"], [b"a", b"b"]),  # the check off still wants exactly one Host
        (["*"], []),
    ],
)
@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_the_raw_header_check_decides_as_the_decoded_one(
    allowed: list[str], hosts: list[bytes], version: str
) -> None:
    """check_scope (the request path's: raw headers, one lookup for a usual Host) refuses and
    lets through exactly what check_request does; its fast path swallows no refusal."""
    check = HostCheck("127.0.0.1", 8787, allowed)
    raw = [(b"user-agent", b"x"), *((b"host", h) for h in hosts), (b"accept", b"*/*")]

    def outcome(call: Any) -> str:
        try:
            call()
        except ArbiterError as err:
            return f"{err.status} {err}"
        return "ok"

    expected = outcome(lambda: check.check_request([h.decode() for h in hosts], version))
    assert outcome(lambda: check.check_scope(raw, version)) == expected


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["*", "arbiter"], "must be the only entry"),
        (["http://arbiter"], "not a host name"),
        (["arbiter:8787"], "not a host name"),
        (["*.example.com"], "not a host name"),
        (["a/b"], "not a host name"),
        ([""], "not a host name"),
        (["-a.example"], "not a host name"),
        (["a..example"], "not a host name"),
        (["x" * 64 + ".example"], "not a host name"),
    ],
)
def test_allowed_hosts_are_names_only(names: list[str], problem: str) -> None:
    found = allowed_hosts_problem(names)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    "names", [[], ["*"], ["arbiter"], ["Arbiter.Internal", "my_service", "10.0.0.5"]]
)
def test_allowed_hosts_that_parse(names: list[str]) -> None:
    assert allowed_hosts_problem(names) is None


def test_a_bad_allowed_hosts_is_a_config_error_with_its_line() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
    text = example.read_text().replace("[server]", '[server]\nallowed_hosts = ["arbiter:80"]', 1)
    with pytest.raises(ConfigError) as caught:
        config.loads(text, env=ENV)
    (problem,) = [p for p in caught.value.problems if "allowed_hosts" in p]
    assert problem.startswith("<string>:7: ") and "'arbiter:80' is not a host name" in problem


def _sdks(sc: InProcess, root: str) -> tuple[httpx2.AsyncClient, anthropic.AsyncAnthropic,
                                              openai.AsyncOpenAI]:  # fmt: skip
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=sc.app), base_url=root)
    claude = anthropic.AsyncAnthropic(
        api_key=sc.api_key, base_url=root, http_client=http, max_retries=0
    )
    gpt = openai.AsyncOpenAI(
        api_key=sc.api_key, base_url=f"{root}/v1", http_client=http, max_retries=0
    )
    return http, claude, gpt


def test_a_rebound_name_reaches_no_surface_and_no_upstream(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            before = await sim_requests(sc)
            http, claude, gpt = _sdks(sc, f"http://{REBOUND}")
            async with http:
                with pytest.raises(openai.APIStatusError) as o:
                    await gpt.chat.completions.create(model="auto", messages=USER)
                assert o.value.status_code == 421
                assert o.value.code == "misdirected_request"
                with pytest.raises(anthropic.APIStatusError) as a:
                    await claude.messages.create(model="sim-small", max_tokens=5, messages=USER)
                assert a.value.status_code == 421
                assert a.value.type == "invalid_request_error"  # Anthropic's shape
            # the dashboard, the operator's JSON (the admin key would be the page's to guess,
            # but an open sidecar needs none) and an unknown path: the same 421, OpenAI's shape
            for path in ("/arbiter/ui", "/arbiter/stats", "/arbiter/admin/keys", "/nope"):
                r = await sc.client.get(path, headers={**sc.admin, "host": REBOUND})
                assert r.status_code == 421, (path, r.text)
                assert r.json()["error"]["code"] == "misdirected_request"
            assert await sim_requests(sc) == before  # nothing was called
            # the SDKs as clients configure them: 127.0.0.1 and localhost, any port
            for root in ("http://127.0.0.1:8787", "http://localhost:4000"):
                http, claude, gpt = _sdks(sc, root)
                async with http:
                    await gpt.chat.completions.create(model="auto", messages=USER)
                    await claude.messages.create(model="sim-small", max_tokens=5, messages=USER)

    asyncio.run(main())


def test_allowed_hosts_lets_a_proxy_name_in(tmp_path: Path) -> None:
    def allow(text: str) -> str:
        return text.replace("[server]", '[server]\nallowed_hosts = ["arbiter"]', 1)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=allow) as sc:
            http, _, gpt = _sdks(sc, "http://arbiter:8787")
            async with http:
                await gpt.chat.completions.create(model="auto", messages=USER)
            r = await sc.client.get("/arbiter/ui", headers={"host": REBOUND})
            assert r.status_code == 421

    asyncio.run(main())


def test_the_served_sidecar_answers_to_its_address_and_refuses_a_rebound_name(
    sidecar: Sidecar,
) -> None:
    """`arbiter serve` (uvicorn, a real socket): the bound address as clients send it passes."""
    port = sidecar.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert httpx.get(f"{sidecar.root_url}/healthz", headers={"host": host}).status_code == 200
    r = httpx.get(f"{sidecar.root_url}/healthz", headers={"host": f"evil.example:{port}"})
    assert r.status_code == 421 and r.json()["error"]["code"] == "misdirected_request"


@pytest.mark.parametrize(
    ("bind", "allowed", "warned"),
    [
        ("127.0.0.1", [], False),
        ("::1", [], False),
        ("localhost", [], False),
        ("0.0.0.0", [], True),
        ("10.0.0.5", [], True),
        ("0.0.0.0", ["arbiter"], False),
        ("0.0.0.0", ["*"], False),
    ],
)
def test_a_bind_beyond_loopback_without_allowed_hosts_is_warned_about(
    bind: str, allowed: list[str], warned: bool
) -> None:
    warning = bind_warning(bind, allowed)
    assert (warning is not None) == warned
    if warning:
        assert "server.allowed_hosts" in warning and "421" in warning


def test_check_config_warns_of_a_bind_beyond_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    example = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(example.read_text().replace('host = "127.0.0.1"', 'host = "0.0.0.0"', 1))
    assert main(["check-config", str(cfg)]) == 0
    assert "warning: server.host '0.0.0.0' is reachable" in capsys.readouterr().err


def _raw(sidecar: Sidecar, head: bytes) -> tuple[bytes, dict[str, object]]:
    """One request as bytes on a fresh socket (no client library adds a Host)."""
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(head + b"connection: close\r\n\r\n")
        got = b""
        while piece := sock.recv(65536):
            got += piece
    status_line, _, rest = got.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return status_line, orjson.loads(body) if body.startswith(b"{") else {}


@pytest.mark.parametrize(
    ("path", "hosts"),
    [
        ("/healthz", b""),  # none
        ("/healthz", b"host: 127.0.0.1\r\nhost: 127.0.0.1\r\n"),  # two, even the same
        ("/nope", b""),  # an unknown path too
        ("/v1/chat/completions", b"host: localhost\r\nhost: evil.example\r\n"),
    ],
)
def test_http11_without_exactly_one_host_is_400(sidecar: Sidecar, path: str, hosts: bytes) -> None:
    """RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host or with more
    than one (two readers could take different origins from it)."""
    status, body = _raw(
        sidecar, b"POST %s HTTP/1.1\r\n%scontent-length: 0\r\n" % (path.encode(), hosts)
    )
    assert status.startswith(b"HTTP/1.1 400"), status
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == "invalid_host_header"


def test_a_missing_host_is_400_in_anthropic_shape_under_messages(sidecar: Sidecar) -> None:
    status, body = _raw(sidecar, b"POST /v1/messages HTTP/1.1\r\ncontent-length: 0\r\n")
    assert status.startswith(b"HTTP/1.1 400"), status
    assert body["type"] == "error"
    error = body["error"]
    assert isinstance(error, dict) and error["type"] == "invalid_request_error"


def test_http10_without_host_is_served(sidecar: Sidecar) -> None:
    status, _ = _raw(sidecar, b"GET /healthz HTTP/1.0\r\n")
    assert status.split(b" ")[1] == b"200", status
