"""bench/overhead's pass-through leg, one fresh sidecar per run, with what its figure hides.

bench/overhead's `passthrough_p50_ms` (peerbench, model `mock-gpt`, C=1) is bimodal on this
project's VMs: 0.57-0.62 ms in some runs, 0.96-1.02 in others, on the same code (twentieth
session, bench/results/overhead.profile.md). This replays that leg's sequence exactly as
peerbench's bench.py runs it (the start.sh sidecar pinned to CPU 1, the mock and the driver to
CPU 0; `--proxy-warmup`: 3 s at C=50; the direct C=1 point, during which the sidecar idles;
then the sidecar at C=1, 1 s warm-up and `--seconds` measured) and reads, for the measured
point, from the sidecar's /proc: CPU ms per request (all threads, the event loop's), the event
loop's wake-ups per request (voluntary context switches: each a sleep in epoll or on the GIL),
the other threads' wake-ups, and the mock's wake-ups per request. A request that sleeps twice
(waiting for the upstream's answer, then for the next request) pays two vCPU wake-ups and runs
its work on cold caches after each; one whose gaps are filled does not (the "lone premium",
bench/results/scale.md). Runs alternate variants and models (ABBA), each in a fresh sidecar.

With `--points K`, K points back to back in each sidecar: a mode that flips within one process
is the host's (a window of time), one that holds within each process but differs between them
is the process's (its start state).

Usage: python bench/passthrough_modes.py [--variant NAME=SRC[,ARBITER_BENCH_X=Y] ...]
          [--models mock-gpt,auto]
          [--runs 6] [--seconds 5] [--points 1]
Prints one line per run and a table; ends with one JSON line of every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_per_request import cpu_of
from profile_overhead import PEERBENCH, PY, REPO, _free_port, _stop, _wait

START = REPO / "bench" / "peers" / "arbiter" / "start.sh"


def _wakes(pid: int) -> tuple[float, float, int, int]:
    """(CPU s of every thread, of the main thread, wake-ups of the main thread, of the others)."""
    total, loop, wakes, loop_wakes = cpu_of(pid)
    return total, loop, loop_wakes, wakes - loop_wakes


def _load(url: str, model: str, c: int, seconds: float, warmup: float) -> dict[str, Any]:
    argv = ["taskset", "-c", "0", str(PY), str(PEERBENCH / "loadgen.py"), "--url", url]
    argv += ["--model", model, "-c", str(c), "-d", str(seconds), "--warmup", str(warmup)]
    argv += ["--json", "--timeout", "30"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 90)
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def one_run(
    name: str,
    src: str,
    model: str,
    seconds: float,
    work: Path,
    points: int = 1,
    extra: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    mport, port = _free_port(), _free_port()
    mock = subprocess.Popen(
        ["taskset", "-c", "0", str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = dict(
        os.environ, UPSTREAM_BASE=f"http://127.0.0.1:{mport}/v1", PROXY_HOST="127.0.0.1",
        PROXY_PORT=str(port), PEERBENCH_WORKDIR=str(work), PYTHONPATH=src,
        ARBITER=str(Path(PY).parent / "arbiter"), **(extra or {}),
    )  # fmt: skip
    sidecar = None
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        sidecar = subprocess.Popen(
            ["taskset", "-c", "1", "bash", str(START)],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(f"http://127.0.0.1:{port}/healthz", sidecar)
        url = f"http://127.0.0.1:{port}"
        _load(url, model, 50, 3.0, 0.0)  # bench.py's --proxy-warmup (at its largest C)
        _load(f"http://127.0.0.1:{mport}", model, 1, 5.0, 1.0)  # the direct C=1 point
        _load(url, model, 1, 1.0, 0.0)  # the proxy point's warm-up
        rows = []
        for point in range(points):  # more than one: does a process keep its mode?
            c0, l0, w0, o0 = _wakes(sidecar.pid)
            m0 = _wakes(mock.pid)[2]
            r = _load(url, model, 1, seconds, 0.0)
            c1, l1, w1, o1 = _wakes(sidecar.pid)
            m1 = _wakes(mock.pid)[2]
            n = max(int(r["ok"]), 1)
            rows.append({
                "variant": name, "model": model, "point": point, "rps": r["rps"],
                "p50_ms": r["latency_ms"]["p50"], "cpu_ms": round((c1 - c0) * 1000 / n, 3),
                "loop_cpu_ms": round((l1 - l0) * 1000 / n, 3),
                "loop_wakes": round((w1 - w0) / n, 3), "other_wakes": round((o1 - o0) / n, 3),
                "mock_wakes": round((m1 - m0) / n, 3), "errors": r["errors"],
            })  # fmt: skip
        return rows
    finally:
        if sidecar is not None:
            _stop(sidecar)
        _stop(mock)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--variant", action="append",
        help="NAME=SRC[,ARBITER_BENCH_X=Y...] (default: this=python); e.g. "
        "poll=python,ARBITER_BENCH_IDLE_POLL_US=1000",
    )  # fmt: skip
    ap.add_argument("--models", default="mock-gpt")
    ap.add_argument("--runs", type=int, default=6, help="fresh sidecars per variant and model")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument(
        "--points", type=int, default=1,
        help="C=1 points measured back to back in each sidecar (a mode kept or not)",
    )  # fmt: skip
    a = ap.parse_args(argv)
    variants = []
    for v in a.variant or ["this=python"]:  # NAME=SRC[,ARBITER_BENCH_X=Y...]: start.sh's settings
        name, _, rest = v.partition("=")
        src, *settings = rest.split(",")
        extra = dict(kv.split("=", 1) for kv in settings)
        if any(not k.startswith("ARBITER_BENCH_") for k in extra):
            raise SystemExit(f"--variant {v}: only ARBITER_BENCH_* settings (start.sh's)")
        variants.append((name, src, extra))
    combos = [(n, s, e, m) for m in a.models.split(",") for n, s, e in variants]
    runs: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="arbiter-pt-modes-"))
    started = 0
    for i in range(max(1, min(a.runs, 50))):
        for name, src, extra, model in combos if i % 2 == 0 else combos[::-1]:
            started += 1  # a fresh sidecar, its own work folder
            folder = work / f"s{started}"
            for row in one_run(name, src, model, a.seconds, folder, a.points, extra):
                row["run"], row["load"] = i, round(os.getloadavg()[0], 2)
                runs.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(
        "| variant | model | points | p50 ms | CPU ms/req | loop CPU | loop wake-ups/req | mock |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, _, _, model in combos:
        sel = [r for r in runs if r["variant"] == name and r["model"] == model]

        def col(key: str, sel: list[dict[str, Any]] = sel) -> str:
            vals = sorted(r[key] for r in sel)
            return f"{statistics.median(vals):.3f} [{vals[0]:.3f}-{vals[-1]:.3f}]"

        print(
            f"| {name} | {model} | {len(sel)} | {col('p50_ms')} | {col('cpu_ms')} | "
            f"{col('loop_cpu_ms')} | {col('loop_wakes')} | {col('mock_wakes')} |"
        )
    print(json.dumps(runs, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
