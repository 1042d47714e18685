"""shared_timeouts: asyncio.timeout's behaviour on one loop timer per event loop, and the request
path's timeouts (failover's deadline, the upstream read timeout) no longer arm a loop timer each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from arbiter import shared_timeouts
from arbiter.config import BreakerSettings, FailoverSettings
from arbiter.failover import CircuitBreaker, run_with_failover
from arbiter.records import Attempt
from arbiter.shared_timeouts import timeout
from arbiter.upstream.transport import H1Transport


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))  # type: ignore[arg-type]


def _count_timers(loop: asyncio.AbstractEventLoop) -> list[int]:
    """Count every loop timer armed from now on (asyncio's call_later goes through call_at)."""
    armed = [0]
    call_at = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        armed[0] += 1
        return call_at(when, callback, *args, **kw)

    loop.call_at = counting  # type: ignore[method-assign]
    return armed


def test_expires_with_timeout_error() -> None:
    async def go() -> None:
        # "at its deadline" by the loop's timer order, not by a wall-clock bound (it was
        # `took < 2.0`): a task woken by a 10x timer is scheduled after the one the timeout woke
        # however late a loaded host runs both, so the block ends first unless it fired late
        ended: list[str] = []

        async def later() -> None:
            await asyncio.sleep(0.5)
            ended.append("10x timer")

        t0 = time.monotonic()
        witness = asyncio.get_running_loop().create_task(later())
        with pytest.raises(TimeoutError):
            async with timeout(0.05) as cm:
                await asyncio.sleep(5)
        ended.append("timeout")
        took = time.monotonic() - t0
        witness.cancel()
        assert ended == ["timeout"]
        assert cm.expired()
        assert took >= 0.045  # not early (a lower bound: load only adds)
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    run(go())


def test_not_expired_leaves_nothing_behind() -> None:
    async def go() -> None:
        async with timeout(0.05) as cm:
            await asyncio.sleep(0)
        assert not cm.expired()
        await asyncio.sleep(0.15)  # past its deadline: nothing is cancelled
        async with timeout(None) as never:
            await asyncio.sleep(0.01)
        assert not never.expired()

    run(go())


def test_inner_expiry_is_caught_inside_the_outer_which_still_holds() -> None:
    async def go() -> None:
        async with timeout(5) as outer:
            with pytest.raises(TimeoutError):
                async with timeout(0.02):
                    await asyncio.sleep(5)
            await asyncio.sleep(0.01)  # the outer one was not disturbed
        assert not outer.expired()
        with pytest.raises(TimeoutError):
            async with timeout(0.02), timeout(5) as inner:  # an outer expiring around an inner
                await asyncio.sleep(5)
        assert not inner.expired()

    run(go())


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def go() -> None:
        started = asyncio.Event()

        async def body() -> None:
            async with timeout(5):
                started.set()
                await asyncio.sleep(5)

        task = asyncio.get_running_loop().create_task(body())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(go())


def test_an_entered_timeout_cannot_be_entered_again() -> None:
    async def go() -> None:
        cm = timeout(1)
        async with cm:
            pass
        with pytest.raises(RuntimeError):
            async with cm:
                pass

    run(go())


def test_many_timeouts_one_loop_timer_and_bounded_memory() -> None:
    """Timeouts entered and left while an older one is live arm no loop timer (the request path
    at any rate), and the dead entries do not pile up."""

    async def go() -> None:
        loop = asyncio.get_running_loop()
        armed = _count_timers(loop)
        async with timeout(60):  # an older request still in flight
            for _ in range(5_000):
                async with timeout(150), timeout(120), timeout(60):
                    await asyncio.sleep(0)
            wheel = shared_timeouts._wheel(loop)
            assert len(wheel._heap) < 200
        assert armed[0] <= 2
        # and one due among them still fires on time
        with pytest.raises(TimeoutError):
            async with timeout(0.02):
                await asyncio.sleep(5)

    run(go())


def _server_answers() -> Any:
    body = b'{"ok": true}'
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return on_conn


def test_upstream_calls_under_failover_arm_no_timer_per_call() -> None:
    """A call through failover (the request's deadline) and the upstream transport (the response
    head's read timeout) armed two loop timers per call before; now a constant few for all."""

    async def go() -> int:
        server = await asyncio.start_server(_server_answers(), "127.0.0.1", 0)
        url = httpx.URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x")
        transport = H1Transport()
        settings = FailoverSettings()
        breaker = CircuitBreaker(BreakerSettings())

        async def call(model: str) -> bytes:
            req = b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"
            resp = await transport.send_bytes(url, req, {"read": 30.0})
            return await resp.aread()

        try:
            await call("m")  # the connection is open before counting
            armed = _count_timers(asyncio.get_running_loop())
            for _ in range(50):
                attempts: list[Attempt] = []
                _, got = await run_with_failover(
                    ["m"], call, settings=settings, breaker=breaker, attempts=attempts
                )
                assert got == b'{"ok": true}' and attempts[-1].ok
            return armed[0]
        finally:
            await transport.aclose()
            server.close()

    assert run(go()) <= 3


def test_a_finished_loop_is_not_kept_alive() -> None:
    import gc
    import weakref

    async def go() -> weakref.ref[asyncio.AbstractEventLoop]:
        async with timeout(5):
            await asyncio.sleep(0)
        return weakref.ref(asyncio.get_running_loop())

    ref = run(go())
    gc.collect()
    assert ref() is None


def test_a_loop_that_takes_no_attributes_still_gets_a_working_wheel() -> None:
    class SlottedLoop:  # the two loop methods the wheel uses, on an object without a __dict__
        __slots__ = ("loop",)

        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop = loop

        def call_at(self, when: float, callback: Any) -> asyncio.TimerHandle:
            return self.loop.call_at(when, callback)

        def time(self) -> float:
            return self.loop.time()

    async def go() -> None:
        loop = asyncio.get_running_loop()
        wheel = shared_timeouts._wheel(SlottedLoop(loop))  # type: ignore[arg-type]
        fired = asyncio.Event()

        class Owner:
            def _expire(self) -> None:
                fired.set()

        wheel.add(loop.time() + 0.01, Owner())  # type: ignore[arg-type]
        await asyncio.wait_for(fired.wait(), 2)

    run(go())
