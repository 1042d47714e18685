"""Budget reservations do not outlive the sidecar that made them: a sidecar killed with streams
in flight (kill -9) leaves reservations that a second sidecar on the same store charges as spent
once the dead one's lease expires (the calls may have been billed), with an operator alert; a
SIGTERM whose streams outlast `server.shutdown_grace_s` ends them with
an error event and leaves nothing reserved. Real processes, SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from arbiter.budget import usd
from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV
from arbiter.store import open_store
from arbiter.toml_text import to_toml
from tests.conftest import Proc, Sidecar, start_sim
from tests.pg import empty_store_url
from tests.waiting import until

# Every call's worst case is max_tokens x the output price (input is free): $0.10. The cap
# holds three in flight; with those three leaked, a fourth is refused for ever ("total").
MAX_TOKENS = 1000
PRICE_OUT = 100.0  # $ per million output tokens
WORST = MAX_TOKENS * PRICE_OUT / 1e6
CAP = 3.5 * WORST
LEASE_S = 2.0
IN_FLIGHT = 3
CHAT = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]


@pytest.fixture(scope="module")
def slow_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A simulator with `slow` (a stream's first chunk at once, then one a minute) and `fast`."""
    cfg = tmp_path_factory.mktemp("slow_sim") / "sim.toml"
    prices = {"price_in_per_mtok": 0.0, "price_out_per_mtok": PRICE_OUT}
    cfg.write_text(
        to_toml(
            {
                "seed": 7,
                "models": {
                    "slow": {**prices, "failures": {"trickle": 1.0, "trickle_ms": 60_000}},
                    "fast": prices,
                },
            }
        )
    )
    proc, root = start_sim(cfg)
    yield f"{root}/v1"
    proc.stop()


def _sim_requests(sim_base_url: str, model: str) -> int:
    """How many requests for `model` the sim has received (its own count)."""
    stats = httpx.get(f"{sim_base_url.removesuffix('/v1')}/_sim/stats", timeout=5).json()
    return int(stats["models"][model]["requests"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_store_url(request.param, tmp_path / "holds.db") as url:
        yield url


def _config(tmp: Path, sim: str, store_url: str, grace_s: float = 30.0) -> Path:
    models = {
        name: {
            "upstream": "sim",
            "price_in_per_mtok": 0.0,
            "price_out_per_mtok": PRICE_OUT,
            "context_window": 32000,
            "max_output_tokens": 4096,
        }
        for name in ("slow", "fast")
    }
    doc: dict[str, Any] = {
        "auth": {"mode": "keys", "admin_key_env": ADMIN_KEY_ENV},
        "server": {"log_level": "warning", "shutdown_grace_s": grace_s},
        "store": {"url": store_url, "sync_interval_ms": 200},
        "routing": {"baseline": "fast"},
        "upstreams": {"sim": {"base_url": sim, "api_key_env": API_KEY_ENV}},
        "models": models,
        "budgets": {
            "lease_s": LEASE_S,
            "caps": [{"scope": "global", "limit_usd": CAP, "window": "total"}],
        },
    }
    path = tmp / "arbiter.toml"
    path.write_text(to_toml(doc))
    return path


class Streams:
    """IN_FLIGHT streamed requests to `slow`, each in its own thread: through the openai SDK,
    the last one through the anthropic SDK (/v1/messages); back once every one has its first
    chunk (its reservation is held)."""

    def __init__(self, sidecar: Sidecar, key: str) -> None:
        self.client = openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0)
        self.claude = anthropic.Anthropic(base_url=sidecar.root_url, api_key=key, max_retries=0)
        self.first = threading.Semaphore(0)
        self.ended: list[str] = []  # how each stream ended: "error: <code>", "cut", "done"
        self.threads = [
            threading.Thread(target=self._one, daemon=True) for _ in range(IN_FLIGHT - 1)
        ] + [threading.Thread(target=self._claude, daemon=True)]
        for t in self.threads:
            t.start()
        for _ in range(IN_FLIGHT):
            assert self.first.acquire(timeout=30), "a stream never got its first chunk"

    def _one(self) -> None:
        got_first = False
        try:
            stream = self.client.chat.completions.create(
                model="slow",
                messages=CHAT,
                stream=True,
                max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content and not got_first:
                    got_first = True
                    self.first.release()
            self.ended.append("done")
        except openai.APIError as err:
            body = err.body if isinstance(err.body, dict) else {}
            self.ended.append(f"error: {body.get('code') or body.get('type') or err.message}")
        except (openai.APIConnectionError, httpx2.HTTPError):  # the SDKs run on httpx2
            self.ended.append("cut")
        finally:
            if not got_first:
                self.first.release()

    def _claude(self) -> None:
        got_first = False
        try:
            with self.claude.messages.stream(
                model="slow",
                messages=CHAT,
                max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
            ) as stream:
                for _text in stream.text_stream:
                    if not got_first:
                        got_first = True
                        self.first.release()
            self.ended.append("done")
        except anthropic.APIStatusError as err:
            body = err.body if isinstance(err.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            self.ended.append(f"anthropic error: {error.get('type')}: {err.message}")
        except (anthropic.APIConnectionError, httpx2.HTTPError):
            self.ended.append("cut")
        finally:
            if not got_first:
                self.first.release()

    def join(self, timeout_s: float) -> None:
        for t in self.threads:
            t.join(timeout_s)
        self.client.close()
        self.claude.close()


def _usage(store_url: str) -> tuple[float, float]:
    """(spent, reserved) of the global cap."""
    store = open_store(store_url)
    try:
        rows = store.budget_usage("global")
        return sum(r["spent_usd"] for r in rows), sum(r["reserved_usd"] for r in rows)
    finally:
        store.close()


def _reserved(store_url: str) -> float:
    return _usage(store_url)[1]


def _fast(sidecar: Sidecar, key: str) -> int:
    with openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0) as c:
        try:
            c.chat.completions.create(model="fast", messages=CHAT, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
        except openai.APIStatusError as err:
            return err.status_code
    return 200


def test_a_killed_sidecars_reservations_are_charged_by_another(
    slow_sim: str, store_url: str, tmp_path: Path
) -> None:
    # was "released by another": the killed sidecar's calls may well have been billed, and
    # releasing their holds let a crash-looping sidecar pass its cap without bound (sweep18)
    cfg = _config(tmp_path, slow_sim, store_url)
    first = Sidecar(cfg).start()
    second: Sidecar | None = None
    try:
        key = str(first.create_key()["key"])  # kept in the store: the second sidecar knows it
        streams = Streams(first, key)
        assert _usage(store_url) == pytest.approx((0.0, IN_FLIGHT * WORST))
        assert _fast(first, key) == 429, "the cap is full while the streams are in flight"
        assert first.proc.proc is not None
        dead_pid = first.proc.proc.pid
        first.stop(signal.SIGKILL)  # no settle, no release: only its lease tells
        streams.join(10)
        assert _usage(store_url) == pytest.approx((0.0, IN_FLIGHT * WORST))
        second = Sidecar(cfg).start()
        # swept within the lease plus one sweep period (a third of it); bounded generously
        until(lambda: _reserved(store_url) < 1e-9, "the dead sidecar's holds were swept", 30)
        # moved to spent, exactly the held amount, once (more sweeps pass meanwhile)
        assert _usage(store_url) == pytest.approx((IN_FLIGHT * WORST, 0.0), abs=1e-9)
        time.sleep(LEASE_S)  # two more sweep periods: nothing charged twice
        assert _usage(store_url) == pytest.approx((IN_FLIGHT * WORST, 0.0), abs=1e-9)
        assert _fast(second, key) == 429, "the charged spend counts against the cap"
        rows = second.admin("GET", "/arbiter/budgets").json()["data"]
        assert [r["reserved_expired_usd"] for r in rows] == [0.0]
        assert [r["spent_usd"] for r in rows] == [pytest.approx(IN_FLIGHT * WORST)]
        alerts = second.admin("GET", "/arbiter/alerts").json()["data"]
        charged = [a for a in alerts if a["kind"] == "budget_hold_charged"]
        assert len(charged) == 1, alerts
        assert f":{dead_pid}:" in charged[0]["message"], charged[0]
        assert usd(IN_FLIGHT * WORST) in charged[0]["message"], charged[0]
        # the charge took the cap past 80% (0.30 of 0.35): the threshold alert says so
        assert any(
            a["kind"] == "budget_threshold" and "86% spent" in a["message"] for a in alerts
        ), alerts
    finally:
        first.stop(signal.SIGKILL)
        if second is not None:
            second.stop()


def test_sigterm_with_a_stuck_stream_ends_it_and_leaves_nothing_reserved(
    slow_sim: str, store_url: str, tmp_path: Path
) -> None:
    grace_s = 1.0
    sidecar = Sidecar(_config(tmp_path, slow_sim, store_url, grace_s=grace_s)).start()
    proc: Proc = sidecar.proc
    try:
        streams = Streams(sidecar, str(sidecar.create_key()["key"]))
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        # without the grace bound it waits on the streams (a chunk a minute): the wait's 20 s,
        # 20x the grace, runs out first. The streams' endings below say the grace cut them.
        # (No wall-clock bound on the exit: it was `took < 15 s`.)
        code = proc.proc.wait(timeout=20)
        # uvicorn re-raises the SIGTERM it caught once it has shut down: not a SIGKILL
        assert code in (0, -signal.SIGTERM), code
        streams.join(10)
        # each in its surface's shape, never a silently cut connection
        ended = sorted(streams.ended)
        assert ended[0].startswith("anthropic error: api_error: The server is shutting down")
        assert ended[1:] == ["error: server_shutting_down"] * (IN_FLIGHT - 1), ended
        # a clean stop settles its requests (each call it cut is charged what the upstream
        # generated until the close, cut_stream_cost.py: more than nothing, less than its
        # worst case) and releases its lease: nothing left for a sweep
        store = open_store(store_url)
        try:
            (row,) = store.budget_usage("global")
            assert row["reserved_usd"] < 1e-9
            assert 0 < row["spent_usd"] < IN_FLIGHT * WORST, row
            assert store.expired_budget_holds(time.time() + 3600) == {}
        finally:
            store.close()
    finally:
        sidecar.stop(signal.SIGKILL)


def test_sigterm_answers_a_waiting_whole_answer_request_with_a_503_in_its_shape(
    slow_sim: str, tmp_path: Path
) -> None:
    """A non-streamed request still waiting when `server.shutdown_grace_s` runs out got a
    closed connection (an SDK's connection error): now, nothing of its answer sent yet, it is
    `server_shutting_down` in its surface's shape, with `x-should-retry: true`."""
    store_url = f"sqlite:///{tmp_path / 'grace.db'}"
    sidecar = Sidecar(_config(tmp_path, slow_sim, store_url, grace_s=1.0)).start()
    proc: Proc = sidecar.proc
    key = str(sidecar.create_key()["key"])
    got: dict[str, Any] = {}

    # each client closed when its call ends: its pooled socket never waits for the collector
    def openai_call() -> None:
        with openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0) as client:
            try:
                client.chat.completions.create(model="slow", messages=CHAT, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
            except Exception as err:  # what the SDK raised is the finding
                got["openai"] = err

    def anthropic_call() -> None:
        with anthropic.Anthropic(base_url=sidecar.root_url, api_key=key, max_retries=0) as claude:
            try:
                claude.messages.create(model="slow", messages=CHAT, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
            except Exception as err:
                got["anthropic"] = err

    threads = [threading.Thread(target=f, daemon=True) for f in (openai_call, anthropic_call)]
    before = _sim_requests(slow_sim, "slow")
    try:
        for t in threads:
            t.start()
        # both are waiting on `slow`'s answer once the sim has them (not after a fixed sleep,
        # which a loaded host outran: a SIGTERM before a request arrived is another finding)
        until(lambda: _sim_requests(slow_sim, "slow") - before >= 2, "both reached the upstream")
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        proc.proc.wait(timeout=20)
        for t in threads:
            t.join(10)
        oai = got["openai"]
        assert isinstance(oai, openai.APIStatusError), repr(oai)
        assert oai.status_code == 503 and oai.code == "server_shutting_down"
        assert oai.response.headers["x-should-retry"] == "true"
        claude_err = got["anthropic"]
        assert isinstance(claude_err, anthropic.APIStatusError), repr(claude_err)
        assert claude_err.body["error"]["type"] == "api_error"  # type: ignore[index]
        assert "shutting down" in claude_err.message
        assert claude_err.response.headers["x-should-retry"] == "true"
    finally:
        sidecar.stop(signal.SIGKILL)
