"""The keep-alive timeout on one lazily re-armed timer per connection (lazy_keep_alive.py): a
busy connection arms one timer, not one per request, and an idle one still closes the timeout
after its last answer, never while a request is in progress."""

from __future__ import annotations

import asyncio
import time

from starlette.types import Receive, Scope, Send

from tests.fake_connection import connect
from tests.waiting import until_async

WHOLE = b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n"


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


def test_many_requests_on_a_connection_arm_one_keep_alive_timer() -> None:
    async def go() -> None:
        proto, transport, loop = connect(_ok, keep_alive_s=60)
        for n in range(1, 21):
            proto.data_received(WHOLE)
            await until_async(lambda n=n: transport.out.count(b"HTTP/1.1 200") == n, "answered")
        # uvicorn's: 20 (one armed after each answer, cancelled by the next request's bytes)
        assert loop.keep_alive_timers == 1
        assert not transport.closing
        proto.connection_lost(None)
        assert proto.timeout_keep_alive_task is None  # not left pending for 60 s

    asyncio.run(go())


def test_an_idle_connection_closes_the_timeout_after_its_last_answer() -> None:
    async def go() -> None:
        proto, transport, loop = connect(_ok, keep_alive_s=0.3)
        # requests every 0.1 s across several of the timer's deadlines: never closed between
        for n in range(1, 8):
            proto.data_received(WHOLE)
            await until_async(lambda n=n: transport.out.count(b"HTTP/1.1 200") == n, "answered")
            # taken once the answer is seen, so at or after the idle start: the measured idle
            # time can only read short by the poll's step (a sleep's overshoot read short before)
            last = time.monotonic()
            assert not transport.closing
            await asyncio.sleep(0.1)
        await until_async(lambda: transport.closing, "closed once idle for the timeout")
        idle = time.monotonic() - last
        assert 0.28 <= idle < 5.0, idle  # the timeout, 0.3 s, less until_async's poll step
        assert loop.keep_alive_timers <= 4  # re-armed per deadline passed, not per request
        proto.connection_lost(None)

    asyncio.run(go())


def test_a_request_in_progress_past_the_timeout_is_not_cut() -> None:
    release = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await _ok(scope, receive, send)

    async def go() -> None:
        proto, transport, _loop = connect(slow, keep_alive_s=0.2)
        proto.data_received(WHOLE)
        await until_async(lambda: not release.is_set(), "started")
        release.set()
        await until_async(lambda: b"HTTP/1.1 200" in transport.out, "first answered")
        release.clear()
        proto.data_received(WHOLE)  # its timer is pending; this request outlives it
        await asyncio.sleep(0.5)
        assert not transport.closing  # busy when the timer fired: it lapsed
        release.set()
        await until_async(lambda: transport.out.count(b"HTTP/1.1 200") == 2, "second answered")
        answered = time.monotonic()  # when the poll saw it: late by the poll's lag under load
        await until_async(lambda: transport.closing, "closed once idle for the timeout")
        # a timeout after the second answer, not at once (the first request's timer lapsed:
        # checked above); half the timeout leaves room for the poll's lag (a loaded CI host
        # read 0.188 s for 0.2)
        assert time.monotonic() - answered >= 0.1
        proto.connection_lost(None)

    asyncio.run(go())
