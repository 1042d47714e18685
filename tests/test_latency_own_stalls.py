"""The sidecar's own event-loop stalls are not the upstream's time (lat26): a blocking callback
on the loop holds back the reading of an answer that came in time, and the latency model and its
change detector, fed that, read a healthy model as slowed down (suite26 section 3). The sim runs
in its own process, as an upstream does: in a thread it would share the sidecar's GIL, and its
own speed would change with the sidecar's load."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from arbiter import loop_lag
from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on
from arbiter.offline.demo import sim_settings
from arbiter.toml_text import to_toml
from tests.child_process import die_with_parent
from tests.inproc import InProcess, sidecar_in_process

# sim-small at a fixed speed: every call's upstream time is the same (60 ms to its first token
# at the demo pool's latency scale, 0.02)
FIXED = {"ttft_ms": 3000.0, "ttft_sigma": 0.0, "tokens_per_s": 400.0, "speed_sigma": 0.0}
STALL_S, EVERY_S = 0.2, 0.08  # the loop blocked 200 ms after each 80 ms of running


@contextlib.contextmanager
def _sim_process(tmp_path: Path) -> Iterator[str]:
    """The demo pool, sim-small at FIXED, served by a child process: its base URL."""
    settings = sim_settings()
    settings["models"]["sim-small"]["latency"] = FIXED
    path = tmp_path / "sim.toml"
    path.write_text(to_toml(settings))
    sock = loopback_listener()
    port = port_of(sock)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    argv = [sys.executable, "-m", "arbiter.offline.sim", "--config", str(path), *fd_args(sock)]
    proc = spawn_on(sock, argv, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    preexec_fn=die_with_parent())  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the sim did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)


async def _calls(sc: InProcess, n: int, *, stream: bool) -> None:
    body = {"model": "sim-small", "messages": [{"role": "user", "content": "Hi there"}]}
    for _ in range(n):
        r = await sc.client.post(
            "/v1/chat/completions", json={**body, "stream": stream}, headers=sc.auth
        )
        assert r.status_code == 200, r.text


async def _stalls(stop: asyncio.Event) -> int:
    """Block the loop (as a slow synchronous call on it would) until `stop`; how many times."""
    n = 0
    while not stop.is_set() and n < 200:  # bounded: 200 x 0.28 s at most
        await asyncio.sleep(EVERY_S)
        time.sleep(STALL_S)  # noqa: ASYNC251 (the stall under test)
        n += 1
    return n


def _run(tmp_path: Path, stream: bool) -> None:
    async def go(url: str) -> None:
        own = lambda text: re.sub(r"http://127\.0\.0\.1:\d+/v1", url, text)  # noqa: E731
        async with sidecar_in_process(tmp_path, edit_config=own) as sc:
            lag = loop_lag.LoopLag()  # as the server's lifespan starts it
            lag.start()
            try:
                await _calls(sc, 30, stream=stream)  # the usual level, learned on a quiet loop
                before = sc.services.latency.calls_level("sim-small")
                stop = asyncio.Event()
                stalls = asyncio.create_task(_stalls(stop))
                await _calls(sc, 30, stream=stream)
                stop.set()
                assert await stalls >= 10  # the calls ran among the stalls
                assert lag.max_s >= STALL_S * 0.9
                after = sc.services.latency.calls_level("sim-small")
            finally:
                await lag.stop()
            assert "sim-small" not in sc.services.recent_changes
            sc.services.recorder.flush(5.0)
            alerts = (await sc.client.get("/arbiter/alerts", headers=sc.admin)).json()["data"]
            assert [a for a in alerts if a["kind"] == "latency_change"] == []
            # the calls' own level (log TTFT, log speed: the detector's reference) within e^0.12
            # of the quiet one; the stalls are 3x a call's time (0.17 and 0.27 before lat26;
            # 0.01 with no stalls)
            assert abs(after[0] - before[0]) < 0.12, (before, after)
            assert abs(after[1] - before[1]) < 0.12, (before, after)

    with _sim_process(tmp_path) as url:
        asyncio.run(go(url))


def test_loop_stalls_do_not_read_as_a_slower_model(tmp_path: Path) -> None:
    _run(tmp_path, stream=False)


def test_loop_stalls_do_not_read_as_a_slower_stream(tmp_path: Path) -> None:
    _run(tmp_path, stream=True)
