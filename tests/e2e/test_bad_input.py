"""Malformed input on every route gets a 4xx in OpenAI's error shape, never a 5xx, and reaches no
upstream. Requests go over real sockets (raw bytes where a client library would refuse to send
them) to a live sidecar on SQLite and on PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from arbiter.offline.demo import JUDGE, demo_config, demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import ADMIN_KEY, Sidecar
from tests.openapi_spec import validate
from tests.pg import empty_store_url

# Every route build_app serves (method, path), with a concrete path for the parameterised ones.
ROUTES = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/chat/completions"),
    ("GET", "/v1/models"),
    ("POST", "/v1/feedback"),
    ("GET", "/arbiter/decisions"),
    ("GET", "/arbiter/decisions/dec_x"),
    ("GET", "/arbiter/stats"),
    ("GET", "/arbiter/alerts"),
    ("GET", "/arbiter/policy"),
    ("GET", "/arbiter/budgets"),
    ("GET", "/arbiter/timeseries"),
    ("GET", "/metrics"),
    ("POST", "/arbiter/admin/keys"),
    ("GET", "/arbiter/admin/keys"),
    ("DELETE", "/arbiter/admin/keys/abc"),
    ("GET", "/arbiter/admin/models"),
    ("PATCH", "/arbiter/admin/models/sim-small"),
]
CHAT_OK = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
# Key-shaped bytes no HTTP library will send: Latin-1, UTF-8 and invalid UTF-8
BAD_KEYS = [b"arb-\xff\xfe", "arb-clé".encode(), b"\xc3\xa9" * 40, b"arb-0123456789ab-\x80"]


def raw_request(
    port: int, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    """One HTTP/1.1 request written byte for byte; returns (status, body)."""
    head = [
        f"{method} {path} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        b"Connection: close",
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
        *(k + b": " + v for k, v in headers),
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split(b" ")[1]), rest.partition(b"\r\n\r\n")[2]


def assert_openai_error(status: int, body: bytes, expected: int | None = None) -> dict[str, Any]:
    assert 400 <= status < 500, (status, body[:300])
    if expected is not None:
        assert status == expected, (status, body[:300])
    payload = orjson.loads(body)
    validate("ErrorResponse", payload)
    return payload["error"]  # type: ignore[no-any-return]


def upstream_calls(sim_url: str) -> int:
    """Calls the sim's models have received, the judge's excepted: it grades earlier answers in
    the background (landing whenever a loaded machine gets to them); bad input makes none."""
    r = httpx.get(sim_url.removesuffix("/v1") + "/_sim/stats", timeout=10)
    models = r.json()["models"]
    return sum(int(m["requests"]) for name, m in models.items() if name != JUDGE[0])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend_sidecar(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_url: str
) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("bad-input")
    with empty_store_url(request.param, tmp / "arbiter.db") as url:
        cfg = tmp / "arbiter.toml"
        doc = demo_settings(sim_url, tmp / "arbiter.db")
        doc["store"]["url"] = url
        cfg.write_text(to_toml(doc))
        s = Sidecar(cfg).start()
        try:
            yield s
        finally:
            s.stop()


@pytest.fixture(scope="module")
def sqlite_sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("bad-input-sqlite")
    cfg = tmp / "arbiter.toml"
    cfg.write_text(demo_config(sim_url, tmp / "arbiter.db"))
    s = Sidecar(cfg).start()
    yield s
    s.stop()


# -- API keys that are not ASCII ----------------------------------------------------------------
@pytest.mark.parametrize("header", [b"authorization", b"x-api-key"])
def test_a_non_ascii_key_is_a_401_on_every_route(
    sqlite_sidecar: Sidecar, sim_url: str, header: bytes
) -> None:
    before = upstream_calls(sim_url)
    for method, path in ROUTES:
        for key in BAD_KEYS:
            value = b"Bearer " + key if header == b"authorization" else key
            body = orjson.dumps(CHAT_OK) if method in ("POST", "PATCH") else b""
            status, got = raw_request(sqlite_sidecar.port, method, path, [(header, value)], body)
            err = assert_openai_error(status, got, 401)
            assert err["code"] == "invalid_api_key", (method, path, key)
    assert upstream_calls(sim_url) == before


def test_a_non_ascii_key_next_to_the_admin_key_is_refused(sqlite_sidecar: Sidecar) -> None:
    """The key header wins over the Bearer (auth.presented_key); a garbage one is a 401 even
    next to the admin key as the Bearer."""
    status, got = raw_request(
        sqlite_sidecar.port,
        "GET",
        "/arbiter/stats",
        [(b"authorization", b"Bearer " + ADMIN_KEY.encode()), (b"x-api-key", b"\xff")],
    )
    assert_openai_error(status, got, 401)


# -- chat bodies ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        {"role": {}, "content": "hi"},
        {"role": [None], "content": "hi"},
        {"role": ["user"], "content": "hi"},
        {"role": None, "content": "hi"},
        {"role": 1, "content": "hi"},
        {"role": "user", "content": {}},
        {"role": "user", "content": [None]},
    ],
)
def test_a_malformed_message_is_a_400_naming_it(
    sqlite_sidecar: Sidecar, sim_url: str, message: dict[str, Any]
) -> None:
    before = upstream_calls(sim_url)
    body = orjson.dumps({"model": "auto", "messages": [message]})
    auth = [(b"authorization", f"Bearer {ADMIN_KEY}".encode())]
    status, got = raw_request(sqlite_sidecar.port, "POST", "/v1/chat/completions", auth, body)
    err = assert_openai_error(status, got, 400)
    assert err["param"].startswith("messages[0]")
    assert upstream_calls(sim_url) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 0), ("n", 129), ("n", 1e30), ("n", "2"), ("n", True),
        ("stream", "yes"), ("stream", 1), ("max_tokens", 0), ("max_completion_tokens", 1.5),
        ("response_format", {"type": {}}), ("stream_options", 5), ("model", ""), ("model", 5),
        ("messages", []), ("messages", {}),
    ],
)  # fmt: skip
def test_a_malformed_chat_field_is_a_400_naming_it(
    sqlite_sidecar: Sidecar, sim_url: str, field: str, value: Any
) -> None:
    before = upstream_calls(sim_url)
    body = orjson.dumps({**CHAT_OK, field: value})
    auth = [(b"authorization", f"Bearer {ADMIN_KEY}".encode())]
    status, got = raw_request(sqlite_sidecar.port, "POST", "/v1/chat/completions", auth, body)
    err = assert_openai_error(status, got, 400)
    assert err["param"] == field  # max_completion_tokens by its own name
    assert upstream_calls(sim_url) == before


def _nested(depth: int) -> bytes:
    """A chat body whose extra field nests `depth` arrays (the body itself is one level more)."""
    return (
        b'{"model":"auto","messages":[{"role":"user","content":"hi"}],"x":'
        + b"[" * depth
        + b"]" * depth
        + b"}"
    )


def test_deep_nesting_is_a_400_at_every_depth(sqlite_sidecar: Sidecar, sim_url: str) -> None:
    """orjson reads 1024 levels but writes 254: every depth between used to be a 500. Depths that
    fit go through (one call each); the rest are refused before any upstream call."""
    auth = [(b"authorization", f"Bearer {ADMIN_KEY}".encode())]
    refused = []
    depths = [1, 100, 252, 253, *range(254, 1100, 13), 1023, 1024, 1025, 2000, 100_000]
    # deepest first: the accepted ones come last, so their background judge calls cannot land
    # while a refused one is being counted
    for depth in sorted(depths, reverse=True):
        before = upstream_calls(sim_url)
        status, got = raw_request(
            sqlite_sidecar.port, "POST", "/v1/chat/completions", auth, _nested(depth)
        )
        assert status < 500, (depth, got[:200])
        if status == 200:
            assert depth <= 253, depth
            continue
        assert_openai_error(status, got, 400)
        assert upstream_calls(sim_url) == before, depth
        refused.append(depth)
    assert min(refused) == 254  # the whole body is 255 levels: one more than orjson writes


def test_content_length_garbage_is_a_400(sqlite_sidecar: Sidecar) -> None:
    auth = b"Authorization: Bearer " + ADMIN_KEY.encode()
    for length in (b"abc", b"-1", b"1e3", b"99999999999999999999999999", b"\xb2"):
        with socket.create_connection(("127.0.0.1", sqlite_sidecar.port), timeout=15) as sock:
            sock.sendall(
                b"POST /v1/feedback HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + auth
                + b"\r\nContent-Length: "
                + length
                + b"\r\n\r\n{}"
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = int(data.split(b" ")[1])
        assert 400 <= status < 500, (length, data[:200])


# -- query, path and body parameters on both stores ----------------------------------------------
BAD_TIMES = ["1e308", "-1e308", "nan", "inf", "-inf", "1e19", "9" * 30, "9" * 5000, "99999999999d"]


@pytest.mark.parametrize("name", ["since", "until"])
def test_timeseries_times_out_of_range_are_a_400(backend_sidecar: Sidecar, name: str) -> None:
    for value in BAD_TIMES:
        r = backend_sidecar.admin("GET", "/arbiter/timeseries", params={name: value})
        err = assert_openai_error(r.status_code, r.content, 400)
        assert err["param"] == name, value
    # each bound in range, the other at the far end (an inverted range is its own 400 below)
    other = {"since": ("until", "253402300799"), "until": ("since", "-62135596800")}[name]
    for value in ("0", "-62135596800", "253402300799", "9999-12-31", "0001-01-01", "7d"):
        params = {name: value, other[0]: other[1]}
        r = backend_sidecar.admin("GET", "/arbiter/timeseries", params=params)
        assert r.status_code == 200, (value, r.text)


def test_an_inverted_timeseries_range_is_a_400_naming_both(backend_sidecar: Sidecar) -> None:
    for params in ({"since": "2026-02-01", "until": "2026-01-01"}, {"until": "0"},
                   {"since": "253402300799"}):  # fmt: skip
        r = backend_sidecar.admin("GET", "/arbiter/timeseries", params=params)
        err = assert_openai_error(r.status_code, r.content, 400)
        assert err["param"] == "since" and "'until'" in err["message"], (params, err)
    r = backend_sidecar.admin("GET", "/arbiter/timeseries", params={"since": "0", "until": "0"})
    assert r.status_code == 200, r.text  # an empty range is not an inverted one


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/arbiter/decisions", {"before": "nan"}),
        ("/arbiter/decisions", {"before": "inf"}),
        ("/arbiter/decisions", {"limit": "1e3"}),
        ("/arbiter/decisions", {"limit": "9" * 5000}),
        ("/arbiter/decisions", {"after": "\x00"}),
        ("/arbiter/decisions", {"after": "nope"}),
        ("/arbiter/decisions/%00", {}),
        ("/arbiter/alerts", {"limit": "x"}),
        ("/arbiter/timeseries", {"tenant": "\x00"}),
        ("/arbiter/timeseries", {"model": "a\x00b"}),
        ("/arbiter/timeseries", {"task": "\x00"}),
        ("/arbiter/timeseries", {"bucket_s": "1.5"}),
        ("/arbiter/admin/keys", {"tenant": "\x00"}),
    ],
)
def test_bad_query_and_path_params_are_a_400(
    backend_sidecar: Sidecar, path: str, params: dict[str, str]
) -> None:
    r = backend_sidecar.admin("GET", path, params=params)
    assert_openai_error(r.status_code, r.content)
    health = httpx.get(f"{backend_sidecar.root_url}/healthz", timeout=10).json()
    assert health["store_healthy"], "a client's bad parameter must not look like a store outage"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/feedback", {"decision_id": "dec_\x00", "score": 1}),
        ("POST", "/arbiter/admin/keys", {"tenant": "t", "name": "a\x00b"}),
        ("DELETE", "/arbiter/admin/keys/%00", None),
        ("PATCH", "/arbiter/admin/models/%00", {"enabled": True}),
        ("PATCH", "/arbiter/admin/models/sim-small", {"price_in_per_mtok": 1e308}),
        ("PATCH", "/arbiter/admin/models/sim-small", {"price_out_per_mtok": 1e7}),
        ("PATCH", "/arbiter/admin/models/sim-small", {"context_window": 10**30}),
        ("PATCH", "/arbiter/admin/models/sim-small", {"max_output_tokens": 2**63}),
        ("PATCH", "/arbiter/admin/models/sim-small", {"priors": {"\x00": 0.5}}),
        ("PATCH", "/arbiter/admin/models/sim-small", {"priors": {"": 0.5}}),
    ],
)
def test_bad_bodies_are_a_400_and_change_nothing(
    backend_sidecar: Sidecar, method: str, path: str, body: Any
) -> None:
    r = backend_sidecar.admin(method, path, json=body)
    assert_openai_error(r.status_code, r.content)
    # an out-of-range price used to be stored, and then failed every routed request with a 500
    view = backend_sidecar.admin("GET", "/arbiter/admin/models").json()["data"]
    assert all(m["overrides"] == {} for m in view)
