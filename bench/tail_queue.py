"""How much of the tail at "50% of max" is plain queueing (issue 18, "Tail under load").

The rig of `bench/scale.py --only tail` (sidecar pinned to one core; mock and load generator on
the other), then:
1. idle: the sidecar's CPU with no traffic (timers, policy sync), per second;
2. max: wrk's closed loop (64 keep-alive connections) as in scale.py, and its CPU per request;
3. service: `--serial` requests one at a time, 10 ms apart; each one's service time = the CPU
   the sidecar's event-loop thread used for it (/proc schedstat, ns: a busy host does not
   inflate it as it does wall time). Also (service_wall) an open loop at a low rate
   (`--low-pct` of max), traced: latency through Arbiter minus the mock's median straight;
4. load: the open loop at `--pct` of max (the soak's rate), traced, through Arbiter and straight;
5. prediction: a single FIFO server fed with those service times (resampled) at the
   load's rate, arrivals as loadgen sends them (a fixed schedule: D/G/1) and Poisson (M/G/1);
   sojourn + a mock latency drawn from the straight run, minus the straight run's p99 = the
   predicted added p99. Also with the loop CPU times scaled to the load window's measured CPU
   per request of the whole process (the recorder's thread and timers included, at that rate).
   Prediction near the measured added p99: the tail is queueing (levers: CPU per request and its
   variance); prediction far below: the rest is stalls at load.
6. cpu by load shape: the sidecar's CPU per request under wrk c64, loadgen closed c64 / c8 / c1
   and the open loop at 25/50/80%, so "50%" can be judged as the same workload as "max".
Usage: python bench/tail_queue.py [--pct 50] [--seconds 30] [--no-shapes]. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_workers as sw


def _trace_latencies_ms(trace: Path) -> np.ndarray:
    rows = [line.split(",") for line in trace.read_text().splitlines()[1:]]
    return np.array([float(r[1]) for r in rows if r[3].strip().startswith("2")])


def _run(
    rig: sw.Rig, port: int, model: str, other: list[int], seconds: float, **kw: Any
) -> tuple[dict[str, Any], float]:
    """A load run and the sidecar's CPU seconds over it (incl. its 2 s warm-up)."""
    cpu0 = rig.cpu_s()
    res = sw.loadgen(port, model, other, seconds, **kw)
    time.sleep(0.5)  # let the recorder write what these requests left
    return res, rig.cpu_s() - cpu0


def _schedstat_ns(pid: int, tid: int | None = None) -> int:
    """Nanoseconds on a CPU of one thread (tid) or of every thread of the process."""
    tids = [tid] if tid is not None else [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    total = 0
    for t in tids:
        try:
            total += int(Path(f"/proc/{pid}/task/{t}/schedstat").read_text().split()[0])
        except OSError:
            continue
    return total


def _service_cpu_ms(port: int, pid: int, n: int, gap_s: float) -> tuple[np.ndarray, float]:
    """One request at a time (keep-alive, the loadgen's body), `gap_s` apart: the event loop
    thread's CPU for each (its own time on a CPU: a busy host does not inflate it, as it does
    wall time), and the whole process's CPU per request (the recorder's thread, GC, timers)."""
    body = json.dumps({"model": "auto", "max_tokens": 32,
                       "messages": [{"role": "user", "content": "Say hello."}]})  # fmt: skip
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-peerbench"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    per: list[float] = []
    try:
        total0 = _schedstat_ns(pid)
        for _ in range(n):
            before = _schedstat_ns(pid, pid)
            conn.request("POST", "/v1/chat/completions", body, headers)
            conn.getresponse().read()
            per.append((_schedstat_ns(pid, pid) - before) / 1e6)
            time.sleep(gap_s)
        total = (_schedstat_ns(pid) - total0) / 1e6 / n
    finally:
        conn.close()
    return np.array(per), total


def _simulate(
    service_ms: np.ndarray, rate: float, mock_ms: np.ndarray, n: int, poisson: bool, seed: int
) -> np.ndarray:
    """Sojourn + mock latency of n requests through one FIFO server (Lindley's recursion)."""
    rng = np.random.default_rng(seed)
    s = rng.choice(service_ms, n)
    gaps = rng.exponential(1e3 / rate, n) if poisson else np.full(n, 1e3 / rate)
    wait = np.empty(n)
    w = 0.0
    for i in range(n):
        wait[i] = w
        w = max(0.0, w + s[i] - gaps[i])
    result: np.ndarray = wait + s + rng.choice(mock_ms, n)
    return result


def _p(x: np.ndarray, q: float) -> float:
    return round(float(np.percentile(x, q)), 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pct", type=float, default=50.0, help="load as %% of max")
    ap.add_argument("--low-pct", type=float, default=5.0, help="service-time run, %% of max")
    ap.add_argument("--seconds", type=float, default=30.0, help="load window")
    ap.add_argument("--no-shapes", action="store_true", help="skip step 6")
    ap.add_argument("--serial", type=int, default=1500, help="requests for the CPU service times")
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    side, other = [cores[0]], [cores[1]]
    out: dict[str, Any] = {"loadavg_1m_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="arbiter-tailq-") as tmp:
        work = Path(tmp)
        rig = sw.Rig(work, 1, side, other)
        try:
            sw.closed_loop(rig.port, "auto", other, 2)  # warm-up
            time.sleep(1.0)
            cpu0 = rig.cpu_s()
            time.sleep(5.0)
            idle_core = (rig.cpu_s() - cpu0) / 5.0
            cpu0 = rig.cpu_s()
            top = sw.closed_loop(rig.port, "auto", other, 10, warm=False)
            rig.drain_s()
            max_rps = top["rps"]
            out |= {"idle_cpu_core": round(idle_core, 4), "max_rps": max_rps,
                    "max_cpu_ms_per_request": round((rig.cpu_s() - cpu0) / top["requests"]
                                                    * 1e3, 4)}  # fmt: skip
            os.sched_setaffinity(0, other)  # this client on the mock's core
            loop_cpu, proc_cpu = _service_cpu_ms(rig.port, rig.server.pid, args.serial, 0.01)
            out["service_cpu"] = {
                "n": int(loop_cpu.size), "loop_mean_ms": round(float(loop_cpu.mean()), 4),
                "loop_p50_ms": _p(loop_cpu, 50), "loop_p90_ms": _p(loop_cpu, 90),
                "loop_p99_ms": _p(loop_cpu, 99), "loop_max_ms": _p(loop_cpu, 100),
                "loop_cv": round(float(loop_cpu.std() / loop_cpu.mean()), 3),
                "process_ms_per_request": round(proc_cpu, 4),
            }  # fmt: skip
            low_rate = round(max_rps * args.low_pct / 100, 1)
            low_trace = work / "low.csv"
            low, low_cpu = _run(rig, rig.port, "auto", other, 20, rate=low_rate,
                                trace=low_trace)  # fmt: skip
            direct_low = sw.loadgen(rig.mock_port, "mock-gpt", other, 10, rate=low_rate)
            via_low = _trace_latencies_ms(low_trace)
            service = np.maximum(via_low - direct_low["latency_ms"]["p50"], 0.0)
            rate = round(max_rps * args.pct / 100, 1)
            load_trace, mock_trace = work / "load.csv", work / "mock.csv"
            load, load_cpu = _run(rig, rig.port, "auto", other, args.seconds, rate=rate,
                                  trace=load_trace)  # fmt: skip
            direct = sw.loadgen(rig.mock_port, "mock-gpt", other, min(args.seconds, 20),
                                rate=rate, trace=mock_trace)  # fmt: skip
            mock_ms = _trace_latencies_ms(mock_trace)
            load_n = load["ok"] + load["warmup_ok"]
            cpu_per_req = load_cpu / max(load_n, 1) * 1e3
            added_p99 = load["latency_ms"]["p99"] - direct["latency_ms"]["p99"]
            out["service_wall"] = {
                "rate": low_rate, "n": int(service.size),
                "mean_ms": round(float(service.mean()), 4),
                "p50_ms": _p(service, 50), "p90_ms": _p(service, 90), "p99_ms": _p(service, 99),
                "max_ms": _p(service, 100),
                "cv": round(float(service.std() / service.mean()), 3),
                "cpu_ms_per_request": round(
                    (low_cpu - idle_core * 22.5) / max(low["ok"] + low["warmup_ok"], 1) * 1e3, 4
                ),
            }  # fmt: skip
            out["load"] = {
                "pct": args.pct, "rate": rate, "seconds": args.seconds, "via_rps": load["rps"],
                "via_p50_ms": load["latency_ms"]["p50"], "via_p99_ms": load["latency_ms"]["p99"],
                "direct_p50_ms": direct["latency_ms"]["p50"],
                "direct_p99_ms": direct["latency_ms"]["p99"],
                "added_p50_ms": round(load["latency_ms"]["p50"] - direct["latency_ms"]["p50"], 3),
                "added_p99_ms": round(added_p99, 3),
                "cpu_ms_per_request": round(cpu_per_req, 4),
                "busy": round(load_cpu / (args.seconds + 2.5), 3),
            }  # fmt: skip
            pred: dict[str, Any] = {}
            scaled = loop_cpu * (cpu_per_req / max(float(loop_cpu.mean()), 1e-9))
            n = int(max(200_000, rate * 120))
            # (not the wall-time service: on a shared host it carries the host's waits and
            # the loopback hops, which are not work on the sidecar's core)
            arms = (("loop_cpu", loop_cpu), ("loop_cpu_scaled_to_load_cpu", scaled))
            for name, svc in arms:
                for arrivals in ("fixed", "poisson"):
                    via = _simulate(svc, rate, mock_ms, n, arrivals == "poisson", seed=1)
                    pred[f"{name}/{arrivals}"] = {
                        "rho": round(rate * float(svc.mean()) / 1e3, 3),
                        "added_p50_ms": round(_p(via, 50) - direct["latency_ms"]["p50"], 3),
                        "added_p99_ms": round(_p(via, 99) - direct["latency_ms"]["p99"], 3),
                    }  # fmt: skip
            out["predicted"] = pred
            if not args.no_shapes:
                shapes: dict[str, Any] = {}
                cpu0 = rig.cpu_s()
                res = sw.closed_loop(rig.port, "auto", other, 8, warm=False)
                rig.drain_s()
                shapes["wrk_c64"] = (res["rps"], (rig.cpu_s() - cpu0) / res["requests"])
                for c in (64, 8, 1):
                    cpu0 = rig.cpu_s()
                    res = _closed_loadgen(rig, other, c, 8)
                    shapes[f"loadgen_closed_c{c}"] = (
                        res["rps"],
                        (rig.cpu_s() - cpu0) / (res["ok"] + res["warmup_ok"]),
                    )
                for pct in (25, 50, 80):
                    r = round(max_rps * pct / 100, 1)
                    res, cpu = _run(rig, rig.port, "auto", other, 8, rate=r)
                    shapes[f"open_{pct}pct"] = (res["rps"], cpu / (res["ok"] + res["warmup_ok"]))
                out["cpu_ms_per_request_by_shape"] = {
                    k: {"rps": v[0], "cpu_ms": round(v[1] * 1e3, 4),
                        "cpu_ms_less_idle": round((v[1] - idle_core / max(v[0], 1)) * 1e3, 4)}
                    for k, v in shapes.items()
                }  # fmt: skip
        finally:
            rig.stop()
    out["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))
    return 0


def _closed_loadgen(rig: sw.Rig, other: list[int], conns: int, seconds: float) -> dict[str, Any]:
    """loadgen's closed loop with `conns` keep-alive connections (1 s warm-up, counted in CPU)."""
    import subprocess

    run = subprocess.run(
        ["taskset", "-c", ",".join(map(str, other)), sys.executable,
         str(sw.PEERBENCH / "loadgen.py"), "--url", f"http://127.0.0.1:{rig.port}",
         "--model", "auto", "-d", str(seconds), "--warmup", "1", "-c", str(conns), "--json"],
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    time.sleep(0.5)
    res: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return res


if __name__ == "__main__":
    sys.exit(main())
