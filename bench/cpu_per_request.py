"""CPU-seconds per request in the sidecar, per path, for code variants side by side (issue 18).

The tail at a fixed utilisation scales with the service time, so this measures the one lever
left on one core: the sidecar's CPU per request. Per round and variant it starts the sidecar
(`python -m arbiter serve`, the bench/peers/arbiter config) in front of peerbench's mock upstream,
warms it, then sends a fixed number of requests at C=1 per path (routed `auto`, the named model
`mock-gpt`, streamed `auto`) and reads the sidecar's CPU time (all threads) from /proc. Nothing is
pinned (the host is shared; the lead may pin us): CPU time, not wall time, is the figure.
Variants are interleaved (round r runs every variant) so a same-run baseline sits next to each.

Usage: python bench/cpu_per_request.py --variant base=/work/main/python --variant new=python
          [--requests 3000] [--rounds 3] [--spy DIR]
Prints a table and ends with one JSON line {"VARIANT": {"PATH": median_cpu_ms_per_req, ...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_overhead import (
    PEERBENCH,
    PY,
    _config,
    _free_port,
    _main_thread_cpu,
    _stop,
    _usage,
    _wait,
)

# (label, loadgen model, streamed)
PATHS: dict[str, tuple[str, bool]] = {
    "auto": ("auto", False),
    "named": ("mock-gpt", False),
    "stream": ("auto", True),
}


def _drive(port: int, model: str, stream: bool, n: int) -> dict[str, Any]:
    argv = [str(PY), str(PEERBENCH / "loadgen.py"), "--url", f"http://127.0.0.1:{port}"]
    argv += ["--model", model, "-c", "1", "-n", str(n), "-d", "120", "--warmup", "0", "--json"]
    argv += ["--stream"] if stream else []
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300)
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def run_variant(src: str, cfg: Path, a: argparse.Namespace, spy: Path | None) -> dict[str, float]:
    """CPU ms per request of each path for one sidecar process running the code under `src`."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=src)
    argv = [str(PY), "-m", "arbiter", "serve", "--config", str(cfg), "--port", str(port)]
    proc = subprocess.Popen(
        argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    out: dict[str, float] = {}
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", proc)
        for label, (model, stream) in PATHS.items():
            if label not in a.paths:
                continue
            _drive(port, model, stream, max(200, a.requests // 5))  # warm pools and lazy paths
            spy_proc = None
            if spy is not None:
                spy_proc = subprocess.Popen(
                    [str(Path(PY).parent / "py-spy"), "record", "--pid", str(proc.pid),
                     "-r", "500", "-f", "raw", "-o", str(spy / f"{label}.txt"), "--nonblocking",
                     "--gil"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            cpu0, loop0 = _usage(proc.pid)[0], _main_thread_cpu(proc.pid)
            r = _drive(port, model, stream, a.requests)
            cpu1, loop1 = _usage(proc.pid)[0], _main_thread_cpu(proc.pid)
            if spy_proc is not None:
                spy_proc.send_signal(2)  # SIGINT: py-spy writes what it has
                spy_proc.wait(30)
            if r["errors"]:
                raise SystemExit(f"{label}: errors {r['errors']}")
            out[label] = (cpu1 - cpu0) * 1000 / max(r["ok"], 1)
            out[f"{label}_loop"] = (loop1 - loop0) * 1000 / max(r["ok"], 1)  # event-loop thread
    finally:
        _stop(proc)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variant", action="append", required=True, help="NAME=DIR (repeatable)")
    ap.add_argument("--requests", type=int, default=3000, help="measured requests per path")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--paths", default="auto,named,stream")
    ap.add_argument(
        "--spy", default=None, help="py-spy raw stacks per path (first variant, round 1)"
    )
    a = ap.parse_args(argv)
    a.requests = min(max(a.requests, 200), 50_000)
    a.rounds = min(max(a.rounds, 1), 10)
    a.paths = a.paths.split(",")
    variants = [v.split("=", 1) for v in a.variant]
    work = Path(tempfile.mkdtemp(prefix="arbiter-cpu-"))
    mport = _free_port()
    mock = subprocess.Popen(
        [str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rows: dict[str, dict[str, list[float]]] = {name: {} for name, _ in variants}
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        cfg = _config(f"http://127.0.0.1:{mport}/v1", work)
        for rnd in range(a.rounds):
            for i, (name, src) in enumerate(variants):
                spy = Path(a.spy) if a.spy and rnd == 0 and i == 0 else None
                if spy is not None:
                    spy.mkdir(parents=True, exist_ok=True)
                res = run_variant(src, cfg, a, spy)
                for label, ms in res.items():
                    rows[name].setdefault(label, []).append(ms)
                print(json.dumps({"round": rnd, "variant": name, **res}), file=sys.stderr)
    finally:
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average: {os.getloadavg()}  (CPU ms per request, median [min-max] of rounds)")
    a.paths = [x for p in a.paths for x in (p, f"{p}_loop")]
    print("| variant | " + " | ".join(a.paths) + " |")
    print("|---|" + "---|" * len(a.paths))
    summary: dict[str, dict[str, float]] = {}
    for name, _ in variants:
        cells = []
        for label in a.paths:
            v = rows[name].get(label, [])
            med = statistics.median(v) if v else float("nan")
            summary.setdefault(name, {})[label] = round(med, 4)
            cells.append(f"{med:.3f} [{min(v):.3f}-{max(v):.3f}]" if v else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
