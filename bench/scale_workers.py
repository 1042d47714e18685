"""bench/scale's workers and tail curves (issue 18), measured on the cores this host has.

workers  Per-worker cost: CPU seconds per request of the server's processes (utime + stime
         from /proc/<pid>/stat, summed over `arbiter serve`'s process group: the supervisor
         and its workers) under closed-loop load at server.workers = 1 and 2. Requests/s per
         core = 1 / that, whatever the load generator shares the cores with; `workers_rps` is
         N workers x their requests/s per core (what N free cores would serve). Also the raw
         requests/s with the load generator on the same cores (said in `raw_note`).
tail     The sidecar (one worker) pinned to one core, the mock upstream and the load generator
         to another: the max throughput (closed loop, counting the time the recorder then
         needs to write its backlog: what one core sustains), then open-loop runs at 50% and
         80% of it through Arbiter and straight to the mock at the same rate. Added p99 = the
         difference; max stall = the largest event-loop lag the sidecar saw during the runs
         (arbiter_event_loop_lag_* on /metrics) and, from the latency trace, the largest
         latency through Arbiter minus the mock's p99. The 50% run is the soak (60 s in
         --quick, 10 minutes in full). A control (an idle asyncio loop with the same timer,
         pinned to the sidecar's core for the same window) gives the machine's own stalls.
         `by_source` (per window, from stalls.py's counters on /metrics): for young and full
         garbage collections, recorder batches, policy-sync passes and log lines written:
         runs, CPU per request (us), runs over 10 ms, the longest run since start (CPU and
         wall ms) and the loop stalls over 5 ms each overlapped ("none": no source ran: the
         scheduler, or work on the loop itself; "loop_thread_ran" / "_waited": the same stalls
         by whether the loop's thread used the CPU for half the lag or more). CPU figures hold
         on a shared host; wall ones do not.
The closed-loop driver is wrk when installed (C, cheap), else peerbench's loadgen; the open
loop is always loadgen (scheduled sends, no coordinated omission).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PEERBENCH = Path(
    os.environ.get(
        "PEERBENCH_DIR",
        Path(os.environ.get("ARBITER_SHARED_DIR", REPO.parent / "shared")) / "tools" / "peerbench",
    )
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
# a worker's samples name it first (metrics_worker.py): {worker="i"} alone, or before the others
_ALONE = r'(?:\{worker="\d+"\})?'
_IN = r'(?:worker="\d+",)?'
# what a read of the sidecar's /metrics raises when it does not answer in time (an overloaded
# window): the window is recorded as failed and the run goes on
_READ_FAILED = (OSError, TimeoutError, urllib.error.URLError)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(url: str, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _cores(cores: list[int]) -> str:
    return ",".join(str(c) for c in cores)


class Rig:
    """The mock upstream and `arbiter serve` (start.sh's config, `server.workers` = workers),
    each pinned to the given cores."""

    def __init__(
        self, workdir: Path, workers: int, server_cores: list[int], mock_cores: list[int]
    ) -> None:
        self.mock_port, self.port = _free_port(), _free_port()
        env = {**os.environ, "UPSTREAM_BASE": f"http://127.0.0.1:{self.mock_port}/v1",
               "PROXY_PORT": str(self.port), "PEERBENCH_WORKDIR": str(workdir / f"w{workers}"),
               "ARBITER_BENCH_WORKERS": str(workers),
               "ARBITER": str(Path(sys.executable).parent / "arbiter")}  # fmt: skip
        self.mock = subprocess.Popen(
            ["taskset", "-c", _cores(mock_cores), sys.executable,
             str(PEERBENCH / "mock_upstream.py"), "--port", str(self.mock_port)],
            start_new_session=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.server = subprocess.Popen(
            ["taskset", "-c", _cores(server_cores), "bash",
             str(REPO / "bench/peers/arbiter/start.sh")], env=env, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_up(f"http://127.0.0.1:{self.port}/healthz")
            _wait_up(f"http://127.0.0.1:{self.mock_port}/v1/models")
        except Exception:
            self.stop()
            raise

    def server_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-g", str(self.server.pid)], capture_output=True,
                             text=True).stdout.split()  # fmt: skip
        return [int(p) for p in out]

    def cpu_s(self, only_children: bool = False) -> float:
        """CPU seconds (user + system) used so far by the server's processes (only_children:
        those it started, e.g. the recorder's writer process, not the serving one)."""
        total = 0
        for pid in self.server_pids():
            if only_children and pid == self.server.pid:
                continue
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": field 3 is fields[0]
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return total / CLK_TCK

    def rss_mb(self) -> float | None:
        rss = []
        for pid in self.server_pids():
            try:
                rss.append(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * 4096)
            except OSError:
                continue
        return round(max(rss) / 2**20, 1) if rss else None

    def lag(self) -> dict[str, float]:
        """The sidecar's event-loop lag histogram (cumulative counts per bound) and max."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        bucket = r"^arbiter_event_loop_lag_seconds_bucket\{" + _IN + r'le="([^"]+)"\} (\S+)$'
        for m in re.finditer(bucket, text, re.M):
            out[m.group(1)] = float(m.group(2))
        found = re.search(r"^arbiter_event_loop_lag_max_seconds" + _ALONE + r" (\S+)$", text, re.M)
        out["max"] = float(found.group(1)) if found else float("nan")
        # server.idle_poll_us: the loop's CPU spent polling with nothing to do (0 when off)
        found = re.search(r"^arbiter_idle_poll_seconds_total" + _ALONE + r" (\S+)$", text, re.M)
        out["idle_poll_s"] = float(found.group(1)) if found else 0.0
        return out

    def backlog(self) -> float:
        """Records the sidecar has accepted but not yet written (arbiter_store_backlog)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            found = re.search(
                (r"^arbiter_store_backlog" + _ALONE + r" (\S+)$").encode(), r.read(), re.M
            )
        return float(found.group(1)) if found else float("nan")

    def drain_s(self, limit_s: float = 120.0) -> float:
        """Seconds until the recorder's backlog is written (limit_s if it never is; a read of
        /metrics that times out on a busy sidecar is one more wait, not the run's end)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit_s:
            try:
                if self.backlog() <= 0:
                    return time.monotonic() - t0
            except _READ_FAILED:
                pass
            time.sleep(0.05)
        return limit_s

    def sources(self) -> dict[str, dict[str, float]]:
        """stalls.py's counters per source (gc, recorder batches, policy sync): runs, CPU
        seconds, longest run (cpu, wall), loop stalls it overlapped; {} before that existed."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out: dict[str, dict[str, float]] = {}
        for name, src, clock, value in re.findall(
            r'^arbiter_(background_\w+|event_loop_stalls_total)\{' + _IN + r'source="(\w+)"'
            r'(?:,clock="(\w+)")?\} (\S+)$', text, re.M,
        ):  # fmt: skip
            out.setdefault(src, {})[f"{name}_{clock}" if clock else name] = float(value)
        # the same stalls by whether the loop's own thread ran (its work) or waited (GIL, core)
        for state, value in re.findall(
            r"^arbiter_event_loop_stalls_by_loop_thread_total\{" + _IN + r'state="(\w+)"\} (\S+)$',
            text,
            re.M,
        ):
            out[f"loop_thread_{state}"] = {"event_loop_stalls_total": float(value)}
        return out

    def stop(self) -> None:
        for proc in (self.server, self.mock):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def closed_loop(
    port: int, model: str, cores: list[int], seconds: float, warm: bool = True
) -> dict[str, Any]:
    """Closed loop, 64 connections: wrk when installed, else loadgen; {"rps", "requests",
    "latency_ms", "tool"}. `warm`: wrk runs 2 s first, not counted."""
    pin = ["taskset", "-c", _cores(cores)]
    url = f"http://127.0.0.1:{port}"
    if shutil.which("wrk"):
        env = {**os.environ, "PEERBENCH_MODEL": model}
        if warm:
            subprocess.run([*pin, "wrk", "-t1", "-c64", "-d2s", "-s",
                            str(PEERBENCH / "wrk_chat.lua"), f"{url}/v1/chat/completions"],
                           env=env, capture_output=True, timeout=60)  # fmt: skip  # warm-up
        run = subprocess.run(
            [*pin, "wrk", "-t1", "-c64", f"-d{int(seconds)}s", "--latency", "-s",
             str(PEERBENCH / "wrk_chat.lua"), f"{url}/v1/chat/completions"],
            env=env, capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
        line = next(x for x in run.stdout.splitlines() if x.startswith("WRKJSON "))
        res = json.loads(line[len("WRKJSON ") :])
        keep = ("rps", "errors", "elapsed_s", "latency_ms")
        return {**{k: res[k] for k in keep}, "requests": res["ok"], "tool": "wrk"}
    res = loadgen(port, model, cores, seconds, warmup=0)  # the caller warms up
    return {**res, "requests": res["ok"], "tool": "loadgen"}


def loadgen(
    port: int, model: str, cores: list[int], seconds: float, rate: float = 0.0,
    trace: Path | None = None, warmup: float = 2,
) -> dict[str, Any]:  # fmt: skip
    args = ["taskset", "-c", _cores(cores), sys.executable, str(PEERBENCH / "loadgen.py"),
            "--url", f"http://127.0.0.1:{port}", "--model", model, "-d", str(seconds),
            "--warmup", str(warmup), "--json"]  # fmt: skip
    args += ["--rate", str(rate)] if rate else ["-c", "64"]
    if trace is not None:
        args += ["--trace", str(trace)]
    run = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120)
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def _host_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def bench_workers(quick: bool, workdir: Path) -> dict[str, Any]:
    """CPU per request of 1 and 2 workers, and the raw requests/s with everything sharing the
    host's cores."""
    if not (PEERBENCH / "loadgen.py").exists():
        return {"why": f"peerbench not found at {PEERBENCH} (set PEERBENCH_DIR)"}
    cores = _host_cores()
    seconds = 10 if quick else 30
    out: dict[str, Any] = {"cores": len(cores), "cpu_ms_per_req": {}, "rps_per_core": {},
                           "raw_rps": {}, "rss_mb_per_worker": {}}  # fmt: skip
    for workers in (1, 2):
        rig = Rig(workdir, workers, cores, cores)
        try:
            closed_loop(rig.port, "auto", cores, 2)  # warm every worker (routes, caches)
            cpu0 = rig.cpu_s()
            res = closed_loop(rig.port, "auto", cores, seconds)
            # the server keeps working a little after the last answer (recording); the wait
            # lets it finish so its CPU counts against these requests
            time.sleep(1.0)
            cpu = rig.cpu_s() - cpu0
            per_req = cpu / max(res["requests"], 1)
            key = str(workers)
            out["cpu_ms_per_req"][key] = round(per_req * 1e3, 3)
            out["rps_per_core"][key] = round(1.0 / per_req) if per_req else None
            out["raw_rps"][key] = res["rps"]
            out["rss_mb_per_worker"][key] = rig.rss_mb()
            out["tool"] = res["tool"]
        finally:
            rig.stop()
    out["workers_rps"] = {
        k: round(int(k) * v) for k, v in out["rps_per_core"].items() if v is not None
    }
    out["raw_note"] = (f"raw_rps: server, mock and load generator ({out.get('tool')}) share "
                       f"the same {len(cores)} cores; workers_rps = N x requests/s per core "
                       f"from the server's CPU seconds per request")  # fmt: skip
    return out


def _stall_from(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """The lag histogram's counts in the window, and the largest lag in it: exact when the
    window set a new maximum, else the upper bound of the highest bucket that moved."""
    bounds = [k for k in before if k not in ("max", "idle_poll_s")]
    moved = [b for b in bounds if after.get(b, 0) - before[b] > 0]
    over_10ms = after.get("+Inf", 0) - before.get("+Inf", 0)
    over_10ms -= after.get("0.01", 0) - before.get("0.01", 0)
    counts = {b: after.get(b, 0) - before[b] for b in bounds}
    if after["max"] > before["max"]:
        worst_ms = after["max"] * 1e3
    else:
        # the smallest bound whose cumulative count took every tick of the window
        total = counts.get("+Inf", 0)
        full = [float(b) for b in bounds if b != "+Inf" and counts[b] >= total]
        worst_ms = min(full) * 1e3 if full else before["max"] * 1e3
    return {"ticks": counts.get("+Inf", 0), "over_10ms": int(over_10ms),
            "max_ms": round(worst_ms, 2), "moved": moved}  # fmt: skip


# The control: an idle asyncio loop with the same 10 ms timer, pinned to the sidecar's core
# for the same window. Its lag is the machine's (other processes, the scheduler), not
# Arbiter's: on a shared host the sidecar's stalls are read against it.
_CONTROL = """
import asyncio, json, sys, time
async def main(seconds):
    lags = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        due = time.perf_counter() + 0.01
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - due)
    print(json.dumps({"ticks": len(lags), "over_10ms": sum(x > 0.01 for x in lags),
                      "max_ms": round(max(lags) * 1e3, 2)}))
asyncio.run(main(float(sys.argv[1])))
"""


def _control(cores: list[int], seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["taskset", "-c", _cores(cores), sys.executable, "-c", _CONTROL, str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _by_source(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], requests: float
) -> dict[str, dict[str, float]]:
    """Per source, in the window: runs, CPU per request (us) and per run (ms), loop stalls over
    5 ms it overlapped; and the longest run since start (CPU and wall, ms)."""
    out: dict[str, dict[str, float]] = {}
    for src, a in after.items():
        b = before.get(src, {})

        def d(key: str, a: dict[str, float] = a, b: dict[str, float] = b) -> float:
            return a.get(key, 0.0) - b.get(key, 0.0)

        row = {"loop_stalls": d("event_loop_stalls_total")}
        if "background_runs_total" in a:
            row |= {
                "runs": d("background_runs_total"),
                "cpu_us_per_request": round(d("background_cpu_seconds_total") / max(requests, 1)
                                            * 1e6, 1),
                "runs_over_10ms": d("background_runs_over_10ms_total"),
                # in this window (the max below is since start, the max phase included)
                "cpu_ms_per_run": round(d("background_cpu_seconds_total")
                                        / max(d("background_runs_total"), 1) * 1e3, 3),
                "max_cpu_ms": round(a.get("background_max_seconds_cpu", 0.0) * 1e3, 2),
                "max_wall_ms": round(a.get("background_max_seconds_wall", 0.0) * 1e3, 2),
            }  # fmt: skip
        out[src] = row
    return out


def _trace_max_ms(trace: Path) -> float | None:
    worst = None
    try:
        for line in trace.read_text().splitlines()[1:]:
            parts = line.split(",")
            try:
                lat = float(parts[1])
            except (IndexError, ValueError):
                continue
            worst = lat if worst is None else max(worst, lat)
    except OSError:
        return None
    return worst


def _tail_window(
    rig: Rig, label: str, rate: float, seconds: int, side: list[int], other: list[int],
    workdir: Path,
) -> tuple[dict[str, Any], float]:  # fmt: skip
    """One open-loop window at `rate`: its figures, and the added p99 (through the sidecar
    minus straight to the mock at the same rate)."""
    before = rig.lag()
    sources0 = rig.sources()
    trace = workdir / f"trace{label}.csv"
    cpu0, writer0 = rig.cpu_s(), rig.cpu_s(only_children=True)
    control = _control(side, seconds + 2)  # loadgen warms up 2 s first
    try:
        via = loadgen(rig.port, "auto", other, seconds, rate=rate, trace=trace)
        cpu = rig.cpu_s() - cpu0
        writer_cpu = rig.cpu_s(only_children=True) - writer0
        backlog_after = rig.backlog()  # a backlog that grows over the window: unsustainable
        lag_after = rig.lag()
        stall = _stall_from(before, lag_after)
        polled = lag_after["idle_poll_s"] - before["idle_poll_s"]
        sources = _by_source(sources0, rig.sources(), via.get("ok", 0))
    except BaseException:
        control.kill()  # a failed window (_window_or_failed) leaves no control running
        control.wait()
        raise
    machine = json.loads(control.communicate(timeout=60)[0])
    direct = loadgen(rig.mock_port, "mock-gpt", other, min(seconds, 20), rate=rate)
    added = via["latency_ms"]["p99"] - direct["latency_ms"]["p99"]
    worst = _trace_max_ms(trace)
    return {
        "rate": rate, "seconds": seconds, "via_rps": via.get("rps"),
        "via_p50_ms": via["latency_ms"]["p50"], "via_p99_ms": via["latency_ms"]["p99"],
        "direct_p50_ms": direct["latency_ms"]["p50"],
        "direct_p99_ms": direct["latency_ms"]["p99"],
        "added_p50_ms": round(via["latency_ms"]["p50"] - direct["latency_ms"]["p50"], 3),
        "added_p99_ms": round(added, 3),
        "sidecar_cpu_busy": round(cpu / seconds, 2),
        # every process of the sidecar (a writer child inherits the core): the core's cost
        "cpu_ms_per_request": round(cpu / max(via.get("ok", 0), 1) * 1e3, 3),
        "serving_process_cpu_ms_per_request": round(
            (cpu - writer_cpu) / max(via.get("ok", 0), 1) * 1e3, 3
        ),
        # with server.idle_poll_us: of that CPU, the loop's polling with nothing to do, and
        # the rest (the requests' work and the background's); equal to the above when off
        "idle_poll_cpu_ms_per_request": round(polled / max(via.get("ok", 0), 1) * 1e3, 3),
        "work_cpu_ms_per_request": round((cpu - polled) / max(via.get("ok", 0), 1) * 1e3, 3),
        "backlog_after": backlog_after,
        # the recorder's writer process (store.writer = "process"): its CPU per request,
        # on the same core; by_source's recorder_batch is what is left in the server
        "writer_process_cpu_us_per_request": round(
            writer_cpu / max(via.get("ok", 0), 1) * 1e6, 1
        ),
        "loop_lag": stall,
        "control_loop_lag": machine,
        "by_source": sources,
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "trace_max_added_ms": (round(worst - direct["latency_ms"]["p99"], 2)
                               if worst is not None else None),
    }, round(added, 2)  # fmt: skip


def parse_tail_rates(text: str | None) -> tuple[float, ...] | None:
    """`--tail-rates` / ARBITER_BENCH_TAIL_RATES: the 50% and 80% windows' rates in requests/s,
    pinned instead of taken from this run's max (for A/Bs at equal absolute rates: two arms'
    maxima differ, so their "50%" are different loads), optionally a third for the window at
    80% of the open loop's max. None when unset; ValueError on anything else."""
    if text is None or not text.strip():
        return None
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"tail rates: numbers separated by commas, not {text!r}") from None
    if len(rates) not in (2, 3) or not all(0 < r < 1e6 for r in rates):
        raise ValueError(f"tail rates: two or three rates in requests/s (0 < r), not {text!r}")
    return rates


def bench_tail(
    quick: bool, workdir: Path, rates: tuple[float, ...] | None = None
) -> dict[str, Any]:
    """Sidecar on the first core, mock + load generator on the second; `rates`: the windows'
    rates pinned (parse_tail_rates) instead of 50% / 80% of this run's max."""
    if not (PEERBENCH / "loadgen.py").exists():
        return {"why": f"peerbench not found at {PEERBENCH} (set PEERBENCH_DIR)"}
    cores = _host_cores()
    if len(cores) < 2:
        return {"why": "needs 2 cores (sidecar on one, mock and load generator on the other)"}
    side, other = [cores[0]], [cores[1]]
    soak = 60 if quick else 600
    rig = Rig(workdir, 1, side, other)
    try:
        closed_loop(rig.port, "auto", other, 2)  # warm-up
        cpu_top = rig.cpu_s()
        top = closed_loop(rig.port, "auto", other, 10, warm=False)
        # Sustainable max: a closed loop finishes answering before the recorder has written
        # what it accepted (its writer yields the core to the loop); the time to write that
        # backlog is part of serving those requests, so it counts in the max.
        backlog_end = rig.backlog()
        drain = rig.drain_s()
        cpu_top = (rig.cpu_s() - cpu_top) / max(top["requests"], 1)
        max_rps = round(top["requests"] / (top["elapsed_s"] + drain), 1)
        out: dict[str, Any] = {"max_rps": max_rps, "max_rps_closed_loop": top["rps"],
                               "max_backlog_at_end": backlog_end, "max_drain_s": round(drain, 2),
                               "max_cpu_ms_per_request": round(cpu_top * 1e3, 3),
                               "max_tool": top["tool"],
                               "layout": f"sidecar on core {side[0]}; mock + load generator "
                                         f"on core {other[0]}"}  # fmt: skip
        if rates:
            out["rates_pinned"] = list(rates)
        for i, (pct, seconds) in enumerate(((50, soak), (80, 20 if quick else 60))):
            rate = rates[i] if rates else round(max_rps * pct / 100, 1)
            out[f"{pct}pct"], added = _window_or_failed(rig, f"{pct}", rate, seconds, side,
                                                        other, workdir)  # fmt: skip
            out[f"added_p99_ms_at_{pct}pct"] = added
        # what one core sustains of the open loop's own requests (they cost more CPU each than
        # the closed loop's: fewer requests per wake-up), from the 50% window's CPU per request
        per = out["50pct"].get("cpu_ms_per_request")
        out["max_rps_by_open_loop_cpu"] = round(1e3 / per) if per else None
        # the open loop's requests cost more CPU each than the closed loop's (fewer per wake-up),
        # so "80% of max" by the closed loop's max asks the core for ~1.0 of itself: also 80% of
        # what the core sustains of the open loop's own requests (reported next to it, not for it)
        if per and (rates is None or len(rates) == 3):
            rate = rates[2] if rates else round(0.8 * 1e3 / per, 1)
            out["80pct_of_open_loop_max"], added = _window_or_failed(
                rig, "80open", rate, 20 if quick else 60, side, other, workdir
            )
            out["added_p99_ms_at_80pct_of_open_loop_max"] = added
        windows = [out["50pct"], out["80pct"]]
        out["max_stall_ms"] = max((w["loop_lag"]["max_ms"] for w in windows if "loop_lag" in w),
                                  default=None)  # fmt: skip
        out["control_max_stall_ms"] = max(
            (w["control_loop_lag"]["max_ms"] for w in windows if "control_loop_lag" in w),
            default=None,
        )
        return out
    finally:
        rig.stop()


def _window_or_failed(
    rig: Rig, label: str, rate: float, seconds: int, side: list[int], other: list[int],
    workdir: Path,
) -> tuple[dict[str, Any], float | None]:  # fmt: skip
    """_tail_window, or {"failed": why} when the sidecar did not answer a read of /metrics in
    time (an overloaded window): one such window lost the whole run's figures before."""
    try:
        return _tail_window(rig, label, rate, seconds, side, other, workdir)
    except _READ_FAILED as err:
        print(f"tail: the {label}% window failed: {type(err).__name__}: {err}", file=sys.stderr)
        return {"rate": rate, "seconds": seconds, "failed": f"{type(err).__name__}: {err}",
                "loadavg_1m_after": round(os.getloadavg()[0], 2)}, None  # fmt: skip
