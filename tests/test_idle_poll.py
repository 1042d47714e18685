"""server.idle_poll_us (idle_poll.py): after work the loop keeps polling for the window, then
sleeps; work inside the window restarts it; other threads and the loop's timers are not starved;
off (the default) nothing is installed."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvloop
from openai import OpenAI

from arbiter import config
from arbiter.client_timeout import ClientReadTimeoutProtocol, protocol_with_read_timeout
from arbiter.errors import ConfigError
from arbiter.idle_poll import IdlePoll
from arbiter.loop_lag import LoopLag
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import ADMIN_KEY, ENV, Sidecar
from tests.fake_connection import connect
from tests.inproc import sidecar_in_process

WHOLE = b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n"


def _run(coro_fn):  # type: ignore[no-untyped-def]
    """On uvloop, as `arbiter serve` runs (its zero-timeout polls are what the window keeps)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro_fn())


def _busy(seconds: float) -> None:
    """CPU work on the calling thread (the loop's), as a request's step is."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_loop_polls_for_the_window_after_a_wake_then_stops() -> None:
    poll = IdlePoll(0.05)

    async def go() -> tuple[float, int, int]:
        loop = asyncio.get_running_loop()
        woke = time.perf_counter()
        poll.wake(loop)
        assert poll.active
        while poll.active:  # noqa: ASYNC110  # polled on purpose: the poll has no event
            await asyncio.sleep(0.005)
        stopped = time.perf_counter() - woke
        polls = poll.polls
        await asyncio.sleep(0.1)  # asleep now: no more polls
        assert poll.polls == polls and not poll.active
        return stopped, polls, poll.windows

    stopped, polls, windows = _run(go)
    # the 5 ms sleeps ran in between (work: each restarts the window), so it ends one window
    # after the last of them: at least the window, and not unbounded
    assert 0.05 <= stopped < 2.0, stopped
    assert polls > 20  # many loop iterations kept awake, not one
    assert windows == 1
    assert 0.0 < poll.idle_s <= stopped


class _Clocks:
    """Wall and thread-CPU clocks a test moves by hand, and a loop that only queues."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.queued: list[object] = []

    def call_soon(self, callback: object) -> None:
        self.queued.append(callback)

    def is_closed(self) -> bool:
        return False

    def step(self, wall_s: float, cpu_s: float, poll: IdlePoll) -> None:
        """Time passes (`cpu_s` of it used by the loop's thread), then the queued poll runs."""
        self.wall += wall_s
        self.cpu += cpu_s
        assert self.queued, "no poll queued"
        self.queued.pop()
        poll._poll()


def test_the_window_is_wall_time_since_work_and_a_preemption_is_not_work() -> None:
    c = _Clocks()
    poll = IdlePoll(0.001, clock=lambda: c.wall, cpu_clock=lambda: c.cpu)
    poll.wake(c)  # type: ignore[arg-type]
    c.step(0.0003, 0.0003, poll)  # 0.3 ms of a request's work: not idle time
    assert poll.active and poll.idle_s == 0.0
    for _ in range(300):  # empty polls of 2 us, all CPU: 0.6 ms
        c.step(2e-6, 2e-6, poll)
    assert poll.active
    # the thread preempted 5 ms, charged 80 us for the switch: no work, the window ran out
    c.step(0.005, 80e-6, poll)
    assert not poll.active and not c.queued
    assert poll.idle_s == pytest.approx(300 * 2e-6 + 80e-6)
    # a read while polling restarts the window without a second callback
    poll.wake(c)  # type: ignore[arg-type]
    c.step(0.0008, 2e-6, poll)
    poll.wake(c)  # type: ignore[arg-type]
    assert len(c.queued) == 1 and poll.windows == 2
    c.step(0.0008, 2e-6, poll)  # 1.6 ms after the first read, 0.8 after the second
    assert poll.active
    c.step(0.0003, 2e-6, poll)
    assert not poll.active
    # a new window; 1 ms of CPU between two polls is work: the window restarts from it
    poll.wake(c)  # type: ignore[arg-type]
    assert poll.windows == 3
    c.step(0.0009, 2e-6, poll)
    c.step(0.001, 0.001, poll)  # at 1.9 ms from the wake, 1 ms after the last: work
    assert poll.active
    c.step(0.0009, 2e-6, poll)  # 0.9 ms after the work: still within
    assert poll.active
    c.step(0.0002, 2e-6, poll)  # 1.1 ms after it: over
    assert not poll.active


def test_a_thread_needing_the_gil_keeps_running_while_the_loop_polls() -> None:
    """The recorder's writer and the policy sync are threads of this process: polling must
    hand them the GIL as a sleeping loop would (uvloop releases it around each poll)."""
    poll = IdlePoll(0.5)
    counts = [0, 0]  # the thread's Python work: while the loop polls, and with it asleep

    def worker(slot: int, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            counts[slot] += sum(range(50))  # bytecode: needs the GIL

    async def go() -> None:
        loop = asyncio.get_running_loop()
        poll.wake(loop)
        t = threading.Thread(target=worker, args=(0, 0.2))
        t.start()
        while t.is_alive():
            await asyncio.sleep(0)  # keep the window open
            poll.wake(loop)
        t.join()
        assert poll.active
        while poll.active:  # noqa: ASYNC110  # polled on purpose: the poll has no event
            await asyncio.sleep(0.01)
        t = threading.Thread(target=worker, args=(1, 0.2))
        t.start()
        await asyncio.sleep(0.25)
        t.join()

    _run(go)
    # the same 0.2 s of the thread's time: at least a fifth of the work it does beside a
    # sleeping loop (a starved thread would get ~nothing: one GIL switch interval now and then)
    assert counts[0] > counts[1] / 5, counts


def test_the_loop_lag_monitor_stays_sane_while_polling() -> None:
    """The polls are loop callbacks like any other: a 10 ms timer still fires on time."""
    poll, lag = IdlePoll(5.0), LoopLag()

    async def go() -> None:
        loop = asyncio.get_running_loop()
        lag.start()
        poll.wake(loop)
        await asyncio.sleep(0.3)
        assert poll.active  # polled all along
        await lag.stop()

    _run(go)
    # ticks keep firing between the polls (a poll that never returned would stop them all);
    # how late each one is is the core's to decide: on a shared core a polling thread spends
    # its scheduler credit and waits out others' slices (bench/results/scale.md, spin18)
    assert sum(lag.counts) >= 10, lag.counts
    assert lag.max_s < 0.25, lag.max_s


def test_a_closed_loop_ends_the_window() -> None:
    poll = IdlePoll(10.0)
    loop = uvloop.new_event_loop()
    poll.wake(loop)
    loop.run_until_complete(asyncio.sleep(0.01))
    loop.close()
    poll._poll()  # a callback left over from the closed loop
    assert not poll.active


def test_each_client_read_wakes_the_poll_and_off_installs_nothing() -> None:
    class Recording(IdlePoll):
        def __init__(self) -> None:
            super().__init__(0.001)
            self.wakes = 0

        def wake(self, loop: asyncio.AbstractEventLoop) -> None:
            self.wakes += 1
            super().wake(loop)

    # off: the protocol is the plain one, nothing added to each read
    off = protocol_with_read_timeout(10.0, 60.0, None)
    assert off.data_received is ClientReadTimeoutProtocol.data_received
    rec = Recording()

    async def go() -> None:
        proto, _, _ = connect(lambda *a: None)  # type: ignore[arg-type]
        cls = protocol_with_read_timeout(10.0, 60.0, rec)
        assert cls.data_received is not ClientReadTimeoutProtocol.data_received
        proto.__class__ = cls  # the same connection, with the option on
        proto.data_received(WHOLE[:10])
        proto.data_received(WHOLE[10:])
        assert rec.wakes == 2 and rec.windows == 1
        proto.connection_lost(None)

    asyncio.run(go())


@pytest.mark.parametrize("value", ["-1", "100001", "1.5", '"300"', "true"])
def test_idle_poll_us_is_parsed_strictly(tmp_path: Path, value: str) -> None:
    path = tmp_path / "arbiter.toml"
    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", tmp_path / "a.db"))
    path.write_text(doc.replace("[server]\n", f"[server]\nidle_poll_us = {value}\n", 1))
    assert "idle_poll_us" in path.read_text()
    with pytest.raises(ConfigError, match="idle_poll_us"):
        config.load(path, env=ENV)


def test_the_sidecar_polls_when_asked_and_reports_it(tmp_path: Path, sim_url: str) -> None:
    """`arbiter serve` with server.idle_poll_us answers as before (the official SDK as the
    client) and reports the time it polled on /metrics; off, no such series."""
    doc = demo_settings(sim_url, tmp_path / "arbiter.db")
    doc.setdefault("server", {})["idle_poll_us"] = 2000
    path = tmp_path / "arbiter.toml"
    path.write_text(to_toml(doc))
    assert config.load(path, env=ENV).server.idle_poll_us == 2000
    sidecar = Sidecar(path).start()
    try:
        key = str(sidecar.create_key()["key"])
        # closed at the end: an unclosed client's socket fails the test (gc_per_test.py)
        with OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0) as client:
            for _ in range(5):
                r = client.chat.completions.create(
                    model="auto",
                    messages=[{"role": "user", "content": "Write a haiku about rain."}],
                )
                assert r.choices[0].message.content
        text = httpx.get(
            f"{sidecar.root_url}/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}
        ).text
        windows = float(text.split("\narbiter_idle_poll_windows_total ")[1].split()[0])
        seconds = float(text.split("\narbiter_idle_poll_seconds_total ")[1].split()[0])
        assert windows >= 1 and 0.0 < seconds < 60.0
    finally:
        sidecar.proc.stop()


def test_off_there_is_no_poll_and_no_series(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            assert sc.app.state.handlers.idle_poll is None
            r = await sc.client.get("/metrics", headers=sc.admin)
            assert r.status_code == 200 and "arbiter_idle_poll" not in r.text

    asyncio.run(main())
