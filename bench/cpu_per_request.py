"""CPU-seconds per request in the sidecar, per path, for code variants side by side (issue 18).

The tail at a fixed utilisation scales with the service time, so this measures the one lever
left on one core: the sidecar's CPU per request. Per variant it starts a sidecar (`python -m
arbiter serve`, the bench/peers/arbiter config) in front of peerbench's mock upstream, warms it,
then sends bursts of requests at C=1 per path (routed `auto`, the named model
`mock-gpt`, streamed `auto`) and reads the sidecar's CPU time (all threads) from /proc. Nothing is
pinned (the host is shared; the lead may pin us): CPU time, not wall time, is the figure.
Every variant's sidecar runs at once and they take turns, a short burst each (ABBA order), so
each sees the same machine load: on a shared host the load moves by more than the cuts measured.

Usage: python bench/cpu_per_request.py --variant base=/work/main/python --variant new=python
          [--burst 400] [--rounds 10] [--paths auto,named,stream]
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
    _stop,
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


class Sidecar:
    """One sidecar process running the code under `src`."""

    def __init__(self, name: str, src: str, cfg: Path) -> None:
        self.name, self.port = name, _free_port()
        argv = [str(PY), "-m", "arbiter", "serve", "--config", str(cfg), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            argv, env=dict(os.environ, PYTHONPATH=src), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def cpu(self) -> tuple[float, float]:
        """(CPU seconds of every thread, of the event-loop thread), from the scheduler's
        nanosecond run times: /proc's utime/stime are sampled at each 10 ms tick, and on a C=1
        ping-pong between three processes that sampling alone is +-10% over a 1,000-request
        burst. (Threads that exited meanwhile are not counted: the sidecar's live for good.)"""
        pid = self.proc.pid
        total = loop = 0.0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    ns = int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that just ended
            total += ns / 1e9
            if int(tid) == pid:
                loop = ns / 1e9
        return total, loop

    def burst(self, model: str, stream: bool, n: int) -> tuple[float, float]:
        """CPU ms per request (all threads, event loop) over `n` requests at C=1."""
        cpu0, loop0 = self.cpu()
        r = _drive(self.port, model, stream, n)
        cpu1, loop1 = self.cpu()
        if r["errors"]:
            raise SystemExit(f"{self.name}: errors {r['errors']}")
        ok = max(r["ok"], 1)
        return (cpu1 - cpu0) * 1000 / ok, (loop1 - loop0) * 1000 / ok


def measure(sidecars: list[Sidecar], a: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Per path, bursts of `a.burst` requests to each sidecar in turn (`a.rounds` times), so
    that every variant sees the same machine load: per variant and path, each burst's figure."""
    rows: dict[str, dict[str, list[float]]] = {s.name: {} for s in sidecars}
    for label in a.paths:
        model, stream = PATHS[label]
        for s in sidecars:
            s.burst(model, stream, max(200, a.burst))  # warm pools and lazy paths
        for rnd in range(a.rounds):
            order = sidecars if rnd % 2 == 0 else sidecars[::-1]  # ABBA: no order bias
            for s in order:
                cpu, loop = s.burst(model, stream, a.burst)
                rows[s.name].setdefault(label, []).append(cpu)
                rows[s.name].setdefault(f"{label}_loop", []).append(loop)
        print(json.dumps({"path": label, **{s.name: rows[s.name][label] for s in sidecars}}),
              file=sys.stderr, flush=True)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variant", action="append", required=True, help="NAME=DIR (repeatable)")
    ap.add_argument("--burst", type=int, default=400, help="requests per burst")
    ap.add_argument("--rounds", type=int, default=10, help="bursts per variant and path")
    ap.add_argument("--paths", default="auto,named,stream")
    a = ap.parse_args(argv)
    a.burst = min(max(a.burst, 100), 20_000)
    a.rounds = min(max(a.rounds, 1), 50)
    a.paths = [p for p in a.paths.split(",") if p in PATHS]
    work = Path(tempfile.mkdtemp(prefix="arbiter-cpu-"))
    mport = _free_port()
    mock = subprocess.Popen(
        [str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sidecars: list[Sidecar] = []
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        cfg = _config(f"http://127.0.0.1:{mport}/v1", work)
        for v in a.variant:
            name, src = v.split("=", 1)
            sidecars.append(Sidecar(name, src, cfg))
        for s in sidecars:
            _wait(f"http://127.0.0.1:{s.port}/healthz", s.proc)
        load0 = os.getloadavg()
        rows = measure(sidecars, a)
        load1 = os.getloadavg()
    finally:
        for s in sidecars:
            _stop(s.proc)
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average before {load0[0]:.1f}, after {load1[0]:.1f}; CPU ms per request: "
          f"median [min-max] of {a.rounds} bursts of {a.burst}")  # fmt: skip
    cols = [x for p in a.paths for x in (p, f"{p}_loop")]
    print("| variant | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    summary: dict[str, dict[str, float]] = {}
    for s in sidecars:
        cells = []
        for label in cols:
            v = rows[s.name][label]
            med = statistics.median(v)
            summary.setdefault(s.name, {})[label] = round(med, 4)
            cells.append(f"{med:.3f} [{min(v):.3f}-{max(v):.3f}]")
        print(f"| {s.name} | " + " | ".join(cells) + " |")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
