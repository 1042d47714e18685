"""Config reload without a restart: SIGHUP (or `POST /arbiter/admin/reload`) re-reads the file
with the same strict parser and swaps the live parts in. A real `arbiter serve` process in front
of an upstream on 127.0.0.1 that holds its answers until told; the official openai SDK as
client. Before this, SIGHUP killed the process (its default) and there was no endpoint."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import openai
import pytest

from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, capped_sidecar, ok_chat_answer, serving
from tests.waiting import until

OLD = (15.0, 60.0)  # sim-premium's prices in the demo registry, $ per million tokens
NEW = (150.0, 600.0)
USAGE = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
ASK = [{"role": "user", "content": "A haiku about rain, please."}]


def cost(prices: tuple[float, float]) -> float:
    return (1000 * prices[0] + 1000 * prices[1]) / 1e6


class _Upstream(ScriptedHandler):
    """Answers "ok" with USAGE; a stream's call waits for `release` (whole answers do not)."""

    protocol_version = "HTTP/1.1"
    streams: ClassVar[list[bool]] = []
    release: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        req = self.read_json()
        if req.get("stream"):
            self.streams.append(True)
            self.release.wait(30)
        body, kind = ok_chat_answer(req["model"], bool(req.get("stream")), USAGE)
        self.answer(body, kind)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(_Upstream) as url:
        try:
            yield url
        finally:
            _Upstream.release.set()


@pytest.fixture
def sidecar(upstream: str, tmp_path: Path) -> Iterator[Sidecar]:
    with capped_sidecar(upstream, "sqlite", tmp_path) as s:
        yield s


def _reprice(doc: dict[str, Any]) -> None:
    doc["models"]["sim-premium"]["price_in_per_mtok"] = NEW[0]
    doc["models"]["sim-premium"]["price_out_per_mtok"] = NEW[1]


def _metric(s: Sidecar, line_start: str) -> float:
    text = s.admin("GET", "/metrics").text
    return float(next(x for x in text.splitlines() if x.startswith(line_start)).split()[-1])


def _reloads(s: Sidecar, outcome: str) -> float:
    return _metric(s, f'arbiter_config_reloads_total{{outcome="{outcome}"}}')


def _one(gpt: openai.OpenAI) -> float:
    raw = gpt.chat.completions.with_raw_response.create(
        model="sim-premium",
        max_tokens=2000,
        messages=ASK,  # type: ignore[arg-type]
    )
    return float(raw.headers["x-arbiter-cost-usd"])


def _config_hash(s: Sidecar) -> str:
    return str(httpx.get(f"{s.root_url}/healthz").json()["config"]["sha256"])


def test_sighup_reprices_the_next_request_and_a_stream_in_flight_keeps_its_price(
    sidecar: Sidecar,
) -> None:
    key = str(sidecar.create_key("t-reload")["key"])
    _Upstream.streams.clear()
    _Upstream.release.clear()
    before = _config_hash(sidecar)
    with openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0, timeout=60) as gpt:
        assert _one(gpt) == pytest.approx(cost(OLD), rel=1e-6)
        got: dict[str, Any] = {}

        def stream() -> None:
            raw = gpt.chat.completions.with_raw_response.create(
                model="sim-premium", max_tokens=2000, messages=ASK, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
            )  # fmt: skip
            got["text"] = "".join(
                c.choices[0].delta.content or "" for c in raw.parse() if c.choices
            )
            got["id"] = raw.headers["x-arbiter-decision-id"]

        streaming = threading.Thread(target=stream)
        streaming.start()
        until(lambda: len(_Upstream.streams) == 1, "the stream's call at the upstream")
        sidecar.edit_config(_reprice)
        os.kill(sidecar.proc.proc.pid, signal.SIGHUP)
        until(lambda: _reloads(sidecar, "applied") == 1, "the reload applied")
        assert _config_hash(sidecar) != before
        assert _one(gpt) == pytest.approx(cost(NEW), rel=1e-6)  # the next request: new price
        _Upstream.release.set()
        streaming.join(30)
        assert got["text"] == "ok"
        until(lambda: sidecar.admin("GET", f"/arbiter/decisions/{got['id']}").status_code == 200,
              "the stream's decision recorded")  # fmt: skip
        row = sidecar.admin("GET", f"/arbiter/decisions/{got['id']}").json()
        assert row["cost_usd"] == pytest.approx(cost(OLD), rel=1e-6)  # the price it started at
    assert sidecar.proc.proc.poll() is None  # SIGHUP's default would have ended it


def test_a_broken_file_or_a_change_that_needs_a_restart_changes_nothing(
    sidecar: Sidecar,
) -> None:
    """A file the parser refuses is a 400 with its file:line message (SIGHUP: logged); a file
    that changes what cannot change live is a 400 naming each setting, its live part (a new
    price) not applied either. The old config keeps serving through both."""
    key = str(sidecar.create_key("t-broken")["key"])
    r = httpx.post(  # the endpoint is the admin's
        f"{sidecar.root_url}/arbiter/admin/reload", headers={"authorization": f"Bearer {key}"}
    )
    assert r.status_code == 403, r.text
    before = _config_hash(sidecar)
    text = sidecar.config_path.read_text()

    def broken(doc: dict[str, Any]) -> None:  # repriced, with a misspelt key: the parser's 400
        _reprice(doc)
        doc["routing"]["explor"] = 1.0

    sidecar.edit_config(broken)
    line = next(
        i for i, x in enumerate(sidecar.config_path.read_text().splitlines(), 1)
        if x.startswith("explor ")
    )  # fmt: skip
    r = sidecar.admin("POST", "/arbiter/admin/reload")
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert f"a.toml:{line}: unknown key 'explor'; did you mean 'explore'?" in message, message
    os.kill(sidecar.proc.proc.pid, signal.SIGHUP)  # the same by signal: logged, nothing changes
    until(lambda: _reloads(sidecar, "invalid") == 2, "both reloads refused")

    def fixed_and_live(doc: dict[str, Any]) -> None:
        _reprice(doc)
        doc.setdefault("server", {})["workers"] = 3
        doc["store"]["url"] = doc["store"]["url"] + ".other"

    sidecar.config_path.write_text(text)
    sidecar.edit_config(fixed_and_live)
    r = sidecar.admin("POST", "/arbiter/admin/reload")
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "server.workers" in message and "store.url" in message, message
    assert "models." not in message  # the live part is not what is refused
    assert _reloads(sidecar, "refused") == 1 and _reloads(sidecar, "applied") == 0
    assert _config_hash(sidecar) == before
    with openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0, timeout=60) as gpt:
        assert _one(gpt) == pytest.approx(cost(OLD), rel=1e-6)  # the price change waits too
    sidecar.config_path.write_text(text)  # back to the file serving: nothing to do
    r = sidecar.admin("POST", "/arbiter/admin/reload")
    assert r.status_code == 200 and r.json()["outcome"] == "unchanged", r.text


def test_with_two_workers_a_reload_by_the_endpoint_reaches_both(
    upstream: str, tmp_path: Path
) -> None:
    """The worker that takes the POST reloads and signals the supervisor, which passes SIGHUP
    to every worker: each connection, whichever worker accepts it, sees the new config."""

    def two_workers(doc: dict[str, Any]) -> None:
        doc.setdefault("server", {})["workers"] = 2

    with capped_sidecar(upstream, "sqlite", tmp_path, edit=two_workers) as s:
        key = str(s.create_key("t-workers")["key"])
        s.edit_config(_reprice)
        new = hashlib.sha256(s.config_path.read_bytes()).hexdigest()
        r = s.admin("POST", "/arbiter/admin/reload")
        assert r.status_code == 200 and r.json()["config_sha256"] == new, r.text

        def every_worker_new() -> bool:  # a fresh connection each: the kernel spreads them
            return all(_config_hash(s) == new for _ in range(24))

        until(every_worker_new, "every worker on the new config")
        for _ in range(6):  # a client (a connection) per request, so both workers answer
            with openai.OpenAI(base_url=s.base_url, api_key=key, max_retries=0) as gpt:
                assert _one(gpt) == pytest.approx(cost(NEW), rel=1e-6)
