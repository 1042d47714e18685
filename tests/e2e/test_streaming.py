"""End to end streaming: the official `openai` SDK against a live sidecar (child process) and a
live sim (in-process, wrapped to watch its connections): text, usage, [DONE], chunk schema,
mid-stream failures, client disconnects, and failover before the first byte."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import openai
import orjson
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arbiter.offline.demo import API_KEY_ENV
from arbiter.offline.sim import build_app
from arbiter.offline.sim.config import SimConfig, parse_config
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.e2e.sidecar_thread import TestClock, ThreadedSidecar
from tests.openapi_spec import validate

AUTH = {"authorization": "Bearer test"}
QUESTION = [{"role": "user", "content": "Tell me about the history of tides in a few sentences."}]


# -- a sim whose connections we can watch ---------------------------------------------------
@dataclass(slots=True)
class Seen:
    """One chat request as the sim's server saw it."""

    body_events: int = 0
    complete: bool = False  # the sim finished its response
    client_left_at: float | None = None  # the connection closed before the response completed


HOLD_LIMIT_S = 60.0  # a valve never holds a send longer (a failing test must still end)


class Valve:
    """Holds the sim's sends for one model until the test lets each one through: the start of
    each response (`what="start"`), or each stream event that carries text (`what="content"`).
    Ordering, not timing: a test proves "the sidecar relayed X before the upstream sent Y" by
    letting Y through only once its client has X."""

    def __init__(self, model: str, what: Literal["start", "content"]) -> None:
        self.model, self.what = model, what
        self._permits = threading.Semaphore(0)
        self.passed = 0  # sends let through so far

    def let_through(self, n: int = 1) -> None:
        self._permits.release(n)

    def open(self) -> None:
        """Let everything through from now on (the end of a test, or the reset after it)."""
        self._permits.release(10_000)

    def holds(self, message: Message) -> bool:
        if self.what == "start":
            return bool(message["type"] == "http.response.start")
        chunk = message.get("body") or b""
        return (
            message["type"] == "http.response.body"
            and b'"content":"' in chunk
            and b'"content":""' not in chunk
        )

    async def wait_turn(self) -> None:
        await asyncio.to_thread(self._permits.acquire, True, HOLD_LIMIT_S)
        self.passed += 1


class _Watch:
    """ASGI wrapper: counts what the sim sends, notices the client closing the connection, and
    holds the sends that a test's valves say to hold."""

    def __init__(self, app: ASGIApp, seen: list[Seen], valves: dict[str, Valve]) -> None:
        self.app, self.seen, self.valves = app, seen, valves

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await self.app(scope, receive, send)
            return
        record = Seen()
        self.seen.append(record)
        body_read = asyncio.Event()
        body = bytearray()

        async def rcv() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    body_read.set()
            return message

        valve: list[Valve | None] = []  # the request's valve, once its body is read

        async def snd(message: Message) -> None:
            if not valve:
                valve.append(self._valve_for(bytes(body)) if self.valves else None)
            if valve[0] is not None and valve[0].holds(message):
                await valve[0].wait_turn()
            if message["type"] == "http.response.body":
                record.body_events += bool(message.get("body"))
                record.complete = record.complete or not message.get("more_body", False)
            await send(message)

        async def watch() -> None:
            await body_read.wait()
            if (await receive())["type"] == "http.disconnect" and not record.complete:
                record.client_left_at = time.monotonic()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self.app(scope, rcv, snd)
        finally:
            await asyncio.sleep(0.05)  # let the watcher see a close that raced the last send
            watcher.cancel()

    def _valve_for(self, body: bytes) -> Valve | None:
        try:
            model = orjson.loads(body).get("model")
        except orjson.JSONDecodeError:
            return None
        return self.valves.get(model) if isinstance(model, str) else None


class WatchedSim:
    """The simulator on a loopback port in a background thread, connections watched."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.seen: list[Seen] = []
        self.valves: dict[str, Valve] = {}
        self._app = build_app(config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WatchedSim:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            _Watch(self._app, self.seen, self.valves),
            log_level="critical",
            access_log=False,
            lifespan="off",
            # a stop does not wait out a hang or stall a test left in flight (the sidecar left)
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the sim did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        for valve in self.valves.values():
            valve.open()  # a failed test's held sends must not hold up the shutdown
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def control(self, **patch: Any) -> None:
        r = httpx.post(f"{self.root_url}/_sim/control", json=patch, timeout=5)
        assert r.status_code == 200, r.text

    def hold(self, model: str, what: Literal["start", "content"]) -> Valve:
        """From now on, `model`'s sends of kind `what` wait for the returned valve."""
        valve = self.valves[model] = Valve(model, what)
        return valve

    def reset(self) -> None:
        for valve in self.valves.values():
            valve.open()
        self.valves.clear()
        httpx.post(f"{self.root_url}/_sim/reset", timeout=5).raise_for_status()
        self.seen.clear()


def fast(**extra: Any) -> dict[str, Any]:
    return {"latency_ms": 5, "latency_jitter_ms": 0, "ms_per_chunk": 1, **extra}


def sim_pool(hang_s: float = 3.0) -> SimConfig:
    return parse_config(
        {
            "seed": 5,
            "hang_s": hang_s,
            "models": {
                "s-a": fast(price_in_per_mtok=0.1, price_out_per_mtok=0.2),
                "s-b": fast(price_in_per_mtok=1.0, price_out_per_mtok=2.0),
                "s-c": fast(price_in_per_mtok=10.0, price_out_per_mtok=30.0),
                # a long, slow answer: 2 characters every 100 ms
                "s-slow": fast(chars_per_chunk=2, ms_per_chunk=100),
            },
        }
    )


def sidecar_toml(
    sim_url: str,
    db: Path,
    *,
    failover: dict[str, Any] | None = None,
    breaker: dict[str, Any] | None = None,
) -> str:
    """s-a is cheapest and (explore = 0, a low bar) always the first choice for `auto`."""
    fo = {"connect_timeout_s": 1.0, "first_byte_timeout_s": 1.0, "total_timeout_s": 20.0,
          "deadline_s": 20.0, "retries_per_model": 1, "backoff_ms": 10, "max_models": 3,
          **(failover or {})}  # fmt: skip
    br = {"failure_threshold": 1000, "cooldown_s": 30.0, **(breaker or {})}
    # s-slow and s-ghost (a name the sim does not know: it answers 404) are never chosen and
    # rank last among fallbacks, so `auto` tries s-a, then s-b / s-c
    models = {"s-a": (0.1, 0.2, 0.9), "s-b": (1.0, 2.0, 0.9), "s-c": (10.0, 30.0, 0.9),
              "s-slow": (1.0, 2.0, 0.3), "s-ghost": (100.0, 200.0, 0.1)}  # fmt: skip
    return to_toml({
        "server": {"log_level": "warning"},
        "auth": {"mode": "open"},
        "store": {"url": f"sqlite:///{db}", "flush_interval_ms": 20},
        "routing": {"baseline": "s-c", "quality_target": 0.5, "explore": 0.0,
                    "difficulty": False},
        "failover": fo,
        "breaker": br,
        "upstreams": {"sim": {"base_url": sim_url, "api_key_env": API_KEY_ENV}},
        "models": {
            name: {"upstream": "sim", "price_in_per_mtok": pin, "price_out_per_mtok": pout,
                   "context_window": 32000,
                   "priors": {"chat": p, "summarization": p, "creative": p},
                   **({"upstream_model": "no-such-model"} if name == "s-ghost" else {})}
            for name, (pin, pout, p) in models.items()
        },
    })  # fmt: skip


@dataclass(slots=True)
class Stack:
    sim: WatchedSim
    sidecar: Sidecar | ThreadedSidecar
    oai: openai.OpenAI = field(init=False)

    def __post_init__(self) -> None:
        self.oai = openai.OpenAI(
            base_url=self.sidecar.base_url, api_key="unused", max_retries=0, timeout=30
        )


@contextlib.contextmanager
def running(
    tmp: Path,
    *,
    failover: dict[str, Any] | None = None,
    breaker: dict[str, Any] | None = None,
    hang_s: float = 3.0,
    breaker_clock: TestClock | None = None,
) -> Iterator[Stack]:
    """A watched sim and a sidecar routed to it; both stopped on exit. `hang_s`: how long the
    sim's `timeout` failure hangs before its 504. With `breaker_clock`, the sidecar runs in this
    process and its circuits' cool-downs pass only when the test advances that clock."""
    sim = WatchedSim(sim_pool(hang_s)).start()
    try:
        cfg = tmp / "arbiter.toml"
        cfg.write_text(sidecar_toml(sim.base_url, tmp / "arbiter.db", failover=failover,
                                    breaker=breaker))  # fmt: skip
        sidecar = (
            Sidecar(cfg)
            if breaker_clock is None
            else ThreadedSidecar(cfg, breaker_clock=breaker_clock)
        ).start()
        stack = Stack(sim, sidecar)
        try:
            yield stack
        finally:
            stack.oai.close()
            sidecar.stop()
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running(tmp_path_factory.mktemp("streaming")) as s:
        yield s


@pytest.fixture
def sim(stack: Stack) -> Iterator[WatchedSim]:
    """The shared sim, reset before and after each test (failures, counters, watch log)."""
    stack.sim.reset()
    yield stack.sim
    stack.sim.reset()


# -- wire helpers ---------------------------------------------------------------------------
@dataclass(slots=True)
class Wire:
    """One streamed response as bytes on the wire, split into SSE `data:` payloads."""

    status: int
    headers: httpx.Headers
    data: list[str]

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [orjson.loads(d) for d in self.data if d != "[DONE]"]

    @property
    def text(self) -> str:
        return "".join(
            c["choices"][0]["delta"].get("content") or "" for c in self.chunks if c.get("choices")
        )


def sse_post(url: str, body: dict[str, Any], timeout: float = 30) -> Wire:
    with httpx.stream("POST", f"{url}/chat/completions", json=body, headers=AUTH,
                      timeout=timeout) as r:  # fmt: skip
        lines = [line for line in r.iter_lines()]
    data = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    assert all(line.startswith("data: ") or not line for line in lines), lines
    return Wire(r.status_code, r.headers, data)


def decision(root_url: str, decision_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The decision record, once written (a stream's record completes just after [DONE])."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = httpx.get(f"{root_url}/arbiter/decisions/{decision_id}", timeout=5)
        if r.status_code == 200 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            row: dict[str, Any] = r.json()
            return row
        time.sleep(0.05)


def first_decision_since(root_url: str, sent_at: float, within_s: float) -> dict[str, Any] | None:
    """The first decision recorded at or after `sent_at`, polled for up to `within_s` seconds
    (for requests whose client left, so no decision id ever reached it)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        time.sleep(0.05)
        feed = httpx.get(f"{root_url}/arbiter/decisions", params={"limit": 5}).json()
        row: dict[str, Any] | None = next((d for d in feed["data"] if d["ts"] >= sent_at), None)
        if row is not None:
            return row
    return None


def attempts_of(row: dict[str, Any]) -> list[tuple[str, bool, str | None]]:
    return [(a["model"], a["ok"], a.get("error")) for a in row["attempts"]]


def body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": QUESTION, "stream": True, **extra}


# -- the happy path ---------------------------------------------------------------------------
def test_sdk_stream_text_and_usage_equal_the_upstreams(stack: Stack, sim: WatchedSim) -> None:
    raw = stack.oai.chat.completions.with_raw_response.create(
        model="s-b",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-arbiter-model"] == "s-b"
    decision_id = raw.headers["x-arbiter-decision-id"]
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"

    sim.reset()  # same seed, same counter: the sim answers the same request identically
    direct = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": "s-b", "messages": QUESTION},
        headers=AUTH,
        timeout=10,
    ).json()
    assert text == direct["choices"][0]["message"]["content"]
    assert len(text) > 40
    assert usage.completion_tokens == direct["usage"]["completion_tokens"]
    assert usage.prompt_tokens == direct["usage"]["prompt_tokens"]

    row = decision(stack.sidecar.root_url, decision_id)
    assert row["status"] == "ok"
    assert row["stream"] in (True, 1)
    assert row["completion_tokens"] == usage.completion_tokens
    assert attempts_of(row) == [("s-b", True, None)]


def test_wire_format_chunks_validate_and_done_is_last(stack: Stack, sim: WatchedSim) -> None:
    wire = sse_post(stack.sidecar.base_url, body("s-a", stream_options={"include_usage": True}))
    assert wire.status == 200
    assert wire.data[-1] == "[DONE]"
    assert wire.data.count("[DONE]") == 1
    for chunk in wire.chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert wire.chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert wire.chunks[-1]["choices"] == []
    assert wire.chunks[-1]["usage"]["completion_tokens"] > 0
    assert len({c["id"] for c in wire.chunks}) == 1


def test_no_usage_chunk_unless_asked(stack: Stack, sim: WatchedSim) -> None:
    wire = sse_post(stack.sidecar.base_url, body("s-a"))
    assert wire.data[-1] == "[DONE]"
    assert all("usage" not in c for c in wire.chunks)
    assert all(c["choices"] for c in wire.chunks)
    for chunk in wire.chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    row = decision(stack.sidecar.root_url, wire.headers["x-arbiter-decision-id"])
    assert row["completion_tokens"] > 0  # we still asked the upstream, for our own accounting


def test_chunks_are_forwarded_as_they_arrive(tmp_path: Path) -> None:
    """Each piece of an upstream's stream reaches the client before the upstream sends the next:
    the sim holds every piece until the client has the one before, so a sidecar that held the
    stream back (buffered it whole, or a few pieces at a time) leaves the client waiting for a
    piece that is never sent, and the read times out. (The between-pieces timeout is raised for
    this: the test's own round trip sets the pace.)"""
    with running(tmp_path, failover={"first_byte_timeout_s": 30.0}) as s:
        valve = s.sim.hold("s-slow", "content")
        valve.let_through(1)
        timeout = httpx.Timeout(30.0, read=20.0)
        with httpx.stream("POST", f"{s.sidecar.base_url}/chat/completions", json=body("s-slow"),
                          timeout=timeout) as r:  # fmt: skip
            lines = r.iter_lines()
            for k in (1, 2, 3):
                line = next(x for x in lines if '"content":"' in x and '"content":""' not in x)
                assert line.startswith("data: ")
                assert valve.passed == k  # the client has piece k; the upstream sent no more
                valve.let_through(1)
            valve.open()


# -- failures after the first byte ------------------------------------------------------------
@pytest.mark.parametrize(
    ("patch", "code"),
    [
        # a stream that broke off is a cut answer (502 upstream_error), no 503 (money20)
        ({"stream_cut": 1.0, "stream_cut_after": 3}, "upstream_error"),
        ({"malformed_chunk": 1.0}, "upstream_error"),
    ],
)
def test_mid_stream_failure_ends_with_an_error_event(
    stack: Stack, sim: WatchedSim, patch: dict[str, Any], code: str
) -> None:
    sim.control(model="s-b", **patch)
    wire = sse_post(stack.sidecar.base_url, body("s-b", stream_options={"include_usage": True}))
    assert wire.status == 200
    assert "[DONE]" not in wire.data
    last = orjson.loads(wire.data[-1])
    assert set(last) == {"error"}
    assert set(last["error"]) == {"message", "type", "param", "code"}
    assert last["error"]["code"] == code
    assert wire.text  # some text had reached the client before the failure
    row = decision(stack.sidecar.root_url, wire.headers["x-arbiter-decision-id"])
    assert row["status"] == "failed"
    assert row["error"] == code
    assert attempts_of(row) == [("s-b", False, code)]  # one call: one entry, its outcome


def test_sdk_raises_on_a_cut_stream_instead_of_ending_cleanly(
    stack: Stack, sim: WatchedSim
) -> None:
    sim.control(model="s-b", stream_cut=1.0, stream_cut_after=2)
    stream = stack.oai.chat.completions.create(
        model="s-b",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
    )
    got: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "s-b" in info.value.message
    assert "".join(got)


# -- the client going away --------------------------------------------------------------------
# The sim holds s-slow's answer (a valve), so it cannot end while the test waits; the sidecar's own
# timers for a held call (first byte / between pieces, total, deadline) are a minute away, twice
# the wait. An upstream closed within the wait was closed because the client left, and before the
# answer's end: an ordering and a count, not "closed within 2.0 s of the client leaving" (a bound
# a loaded host can pass over).
HELD_UPSTREAM = {"first_byte_timeout_s": 60.0, "total_timeout_s": 60.0, "deadline_s": 60.0}
CLOSE_WAIT_S = 30.0  # < the held call's timers (60 s) and the valve's own limit (HOLD_LIMIT_S)
PIECES_AFTER_LEAVING = 8  # a streamed answer's writes that may go out before the sidecar learns
# the client left (it learns on a write); s-slow's answer here has 33 pieces, so it cannot end


def _closed_while_held(sim: WatchedSim) -> Seen:
    """The sim's last request, once its connection closed (or CLOSE_WAIT_S passed)."""
    deadline = time.monotonic() + CLOSE_WAIT_S
    while not (sim.seen and sim.seen[-1].client_left_at) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.seen, "the sim never got the request"
    return sim.seen[-1]


@pytest.mark.parametrize(
    "after_leaving",
    [PIECES_AFTER_LEAVING, 0],
    ids=["a few more pieces after it left", "a silent upstream after it left"],
)
def test_client_disconnect_closes_the_upstream_and_records_it(
    tmp_path: Path, after_leaving: int
) -> None:
    """The upstream is closed mid-answer and the decision says the client left. With nothing
    let through after the client leaves (an upstream gone quiet, a reasoning model thinking),
    there is no write to fail: its EOF mid-stream was kept as a half-close, so that upstream ran
    on until it spoke; it must be closed while held."""
    with running(tmp_path, failover=HELD_UPSTREAM) as s:
        valve = s.sim.hold("s-slow", "content")
        valve.let_through(1)  # one piece, then s-slow's answer waits
        with httpx.stream("POST", f"{s.sidecar.base_url}/chat/completions", json=body("s-slow"),
                          timeout=30) as r:  # fmt: skip
            decision_id = r.headers["x-arbiter-decision-id"]
            lines = r.iter_lines()
            next(x for x in lines if '"content":"' in x and '"content":""' not in x)
        if after_leaving:  # the client has left: as many more, then held
            valve.let_through(after_leaving)
        seen = _closed_while_held(s.sim)
        assert seen.client_left_at is not None, "the sidecar never closed the upstream call"
        assert not seen.complete  # closed mid-answer, with more pieces held back
        if not after_leaving:
            assert valve.passed == 1
        valve.open()
        row = decision(s.sidecar.root_url, decision_id)
        assert row["status"] == "failed"
        assert row["error"] == "client_disconnected"


def test_a_client_closing_while_it_waits_for_a_whole_answer_is_still_heard(
    tmp_path: Path,
) -> None:
    """A client's EOF no longer ends a request received whole (a half-close is answered:
    half_close.py), so a client that has closed entirely is told apart by the reset its
    kernel answers the interim 100 Continue with: its upstream call is still cancelled at
    once, not when s-slow's whole answer is done (here: held, never started)."""
    raw = orjson.dumps(body("s-slow", stream=False))
    sent = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(raw)
    ) + raw
    with running(tmp_path, failover=HELD_UPSTREAM) as s:
        valve = s.sim.hold("s-slow", "start")  # the answer's head waits: it cannot end
        sent_at = time.time()
        with socket.create_connection(("127.0.0.1", s.sidecar.port), timeout=10) as sock:
            sock.sendall(sent)
            deadline = time.monotonic() + CLOSE_WAIT_S
            while not s.sim.seen and time.monotonic() < deadline:  # the upstream call is made
                time.sleep(0.02)
        seen = _closed_while_held(s.sim)
        assert seen.client_left_at is not None, "the sidecar never closed the upstream call"
        assert not seen.complete and valve.passed == 0
        valve.open()
        row = first_decision_since(s.sidecar.root_url, sent_at, within_s=30)
        assert row is not None and row["error"] == "client_disconnected", row


# -- failures before the first byte: the client sees a normal stream -------------------------
@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ({"down": True}, "upstream_unavailable"),
        ({"error_429": 1.0}, "upstream_rate_limited"),
        ({"malformed": 1.0}, "upstream_error"),
        ({"stream_cut": 1.0, "stream_cut_after": 0}, "upstream_error"),  # a cut answer
        ({"stall": 1.0, "stall_ms": 3000}, "upstream_timeout"),
        ({"timeout": 1.0}, "upstream_timeout"),
    ],
)
def test_failure_before_first_byte_falls_back_to_a_normal_stream(
    stack: Stack, sim: WatchedSim, patch: dict[str, Any], code: str
) -> None:
    sim.control(model="s-a", **patch)
    raw = stack.oai.chat.completions.with_raw_response.create(
        model="auto",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    served = raw.headers["x-arbiter-model"]
    assert served in ("s-b", "s-c")
    assert chunks[-1].usage is not None
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    row = decision(stack.sidecar.root_url, raw.headers["x-arbiter-decision-id"])
    assert row["status"] == "ok"
    if code == "upstream_rate_limited":
        # the sim's 429 says `retry-after: 1`: s-a is not retried but paused for a second
        assert attempts_of(row) == [("s-a", False, code), (served, True, None)]
        time.sleep(1.1)  # let the pause end before the next test
        return
    assert attempts_of(row) == [("s-a", False, code), ("s-a", False, code), (served, True, None)]


def test_client_leaving_during_failover_is_recorded_as_a_disconnect(
    stack: Stack, sim: WatchedSim
) -> None:
    """The client gives up while the first choice stalls: the stalled call is cancelled and no
    fallback is tried for nobody (each would be billed); the decision says so, before the
    stall would have ended (probe16b: failover used to go on to a fallback's stream)."""
    sim.control(model="s-a", stall=1.0, stall_ms=3000)
    sent_at = time.time()
    with pytest.raises(httpx.ReadTimeout):
        sse_post(stack.sidecar.base_url, body("auto"), timeout=0.3)
    row = first_decision_since(stack.sidecar.root_url, sent_at, within_s=10)
    assert row is not None, "the decision was never recorded"
    assert row["status"] == "failed"
    assert row["error"] == "client_disconnected"
    assert attempts_of(row) == [("s-a", False, "cancelled")]
    assert row["ts"] - sent_at < 2.5, "the stalled call was waited out"


# -- the request deadline ---------------------------------------------------------------------
def test_the_request_deadline_ends_a_stream_that_is_still_running(tmp_path: Path) -> None:
    """The deadline bounds the whole request, the stream included (not only its opening):
    a stream still running then ends with one error event, is recorded failed, and the upstream
    is closed. s-slow's answer is held after its first piece and the stream's other timers are a
    minute away, so only the deadline (1.5 s) can end it while the client still reads (its read
    timeout is 30 s): an ordering, not `elapsed < 10 s` of wall clock."""
    with running(tmp_path, failover={**HELD_UPSTREAM, "deadline_s": 1.5}) as stack:
        valve = stack.sim.hold("s-slow", "content")
        valve.let_through(1)
        wire = sse_post(stack.sidecar.base_url, body("s-slow"))
        assert wire.status == 200
        assert wire.text  # it was streaming when the deadline came
        assert "[DONE]" not in wire.data
        last = orjson.loads(wire.data[-1])
        assert last["error"]["code"] == "upstream_timeout"
        seen = _closed_while_held(stack.sim)
        assert seen.client_left_at is not None, "the upstream was never closed"
        assert not seen.complete and valve.passed == 1  # ended while held: by the deadline
        valve.open()
        row = decision(stack.sidecar.root_url, wire.headers["x-arbiter-decision-id"])
        assert row["status"] == "failed"
        assert row["error"] == "upstream_timeout"
