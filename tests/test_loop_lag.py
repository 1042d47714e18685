"""The event-loop lag monitor: a call that blocks the loop shows up as lag on /metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from arbiter.loop_lag import BUCKETS_S, LoopLag
from tests.inproc import sidecar_in_process


def test_a_blocking_call_on_the_loop_is_seen_as_lag() -> None:
    lag = LoopLag()

    async def run() -> None:
        lag.start()
        await asyncio.sleep(0.05)  # a few normal ticks
        time.sleep(0.06)  # noqa: ASYNC251  # the point: block the loop; the next tick is late
        await asyncio.sleep(0.03)
        await lag.stop()

    asyncio.run(run())
    assert lag.max_s >= 0.04  # a lower bound: a busy machine only makes it later
    assert sum(lag.counts[BUCKETS_S.index(0.025) + 1 :]) >= 1
    text = lag.metrics_text()
    assert 'arbiter_event_loop_lag_seconds_bucket{le="+Inf"} ' + str(sum(lag.counts)) in text
    assert f"arbiter_event_loop_lag_max_seconds {lag.max_s:.6f}" in text


def test_lag_lands_in_the_first_bucket_that_holds_it() -> None:
    lag = LoopLag()
    for s in (0.0, 0.001, 0.0011, 0.011, 5.0, -1.0):
        lag.observe(s)
    # <=1 ms: 0.0, 0.001, and the negative (clamped to 0); (1, 2] ms: 0.0011; (10, 25]: 0.011
    assert lag.counts[0] == 3 and lag.counts[1] == 1 and lag.counts[4] == 1
    assert lag.counts[-1] == 1 and lag.max_s == 5.0


def test_the_sidecar_serves_its_loop_lag_on_metrics(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            lag = sc.app.state.handlers.loop_lag
            lag.start()  # the lifespan's job (tests/e2e/test_metrics)
            # its first tick, whenever it comes: a fixed 0.05 s sleep raced the watch's first
            # step, which under load set its timer after this one's and had not fired by the
            # read (/metrics counted 0 ticks, 2 of 15 runs with two busy loops)
            for _ in range(200):
                if sum(lag.counts):
                    break
                await asyncio.sleep(0.01)
            r = await sc.client.get("/metrics", headers=sc.admin)
            assert r.status_code == 200
            assert "arbiter_event_loop_lag_max_seconds " in r.text
            count = next(
                line for line in r.text.splitlines()
                if line.startswith("arbiter_event_loop_lag_seconds_count")
            )  # fmt: skip
            assert int(count.split()[1]) >= 1
            await lag.stop()

    asyncio.run(main())
