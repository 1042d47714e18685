"""Instructions per request in the sidecar, per path, for code variants side by side (issue 18).

CPU time per request moves 20-40% between bursts on a shared host (bench/results/scale.md,
thirteenth session on), so a cut of a few percent is not resolvable by it. Instruction counts
are: each variant's sidecar (the bench/peers/arbiter config, code from its directory) runs under
valgrind's callgrind with instrumentation off (`--instr-atstart=no`: the start-up and the
warm-up are not counted). Per path: after a settling pause, the instructions of all its threads
over an idle window (`--idle-s`: the loop-lag tick, the policy sync, the collector: work per
second, not per request) give the background rate; then over a window of `--requests` requests
sent one at a time and `--tail-s` after them (the recorder's paced writes of their decisions
land there), less the background rate times that window's length. Variants take turns per
round (ABBA), so each sees the same warm-up history.

Usage: python bench/instr_per_request.py --variant base=/work/main/python --variant new=python
          [--requests 300] [--rounds 2] [--paths auto,named,stream]
Prints a table (median over rounds, millions of instructions per request, and the ratio to the
first variant) and ends with one JSON line {"VARIANT": {"PATH": minstr_per_request, ...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_per_request import PATHS, _drive
from profile_overhead import PEERBENCH, PY, _config, _free_port, _stop, _wait

_SUMMARY = re.compile(r"^totals: (\d+)", re.M)  # ("summary:" reads 0 after a zeroing)


class Counted:
    """One sidecar under callgrind, instrumentation off until a window opens."""

    def __init__(self, name: str, src: str, cfg: Path, work: Path) -> None:
        self.name, self.port, self.out = name, _free_port(), work / f"cg-{name}"
        self.out.mkdir()
        argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
                f"--callgrind-out-file={self.out}/cg.out", str(PY), "-m", "arbiter", "serve",
                "--config", str(cfg), "--port", str(self.port)]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, env=dict(os.environ, PYTHONPATH=src), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.dumps = 0

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)], check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    def window(self, run: Callable[[], object]) -> tuple[int, float]:
        """(instructions, seconds) of what `run()` makes the sidecar do."""
        self._control("-z")  # nothing before this window counts
        self._control("-i", "on")
        t0 = time.monotonic()
        run()
        took = time.monotonic() - t0
        self._control("-i", "off")
        self.dumps += 1
        self._control(f"--dump=w{self.dumps}")
        return self._read_dump(), took

    def _read_dump(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            f = self.out / f"cg.out.{self.dumps}"
            if f.exists():
                m = _SUMMARY.search(f.read_text(errors="replace"))
                if m:
                    f.unlink()
                    return int(m.group(1))
            time.sleep(0.2)
        raise SystemExit(f"{self.name}: no callgrind dump {self.dumps} in {self.out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variant", action="append", required=True, help="NAME=DIR (repeatable)")
    ap.add_argument("--requests", type=int, default=300, help="requests per window")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--paths", default="auto,named,stream")
    ap.add_argument("--settle-s", type=float, default=5.0, help="pause before each idle window")
    ap.add_argument("--idle-s", type=float, default=10.0, help="idle window (background rate)")
    ap.add_argument("--tail-s", type=float, default=3.0, help="counted after each burst")
    a = ap.parse_args(argv)
    a.settle_s = min(max(a.settle_s, 0.0), 60.0)
    a.idle_s = min(max(a.idle_s, 1.0), 120.0)
    a.tail_s = min(max(a.tail_s, 0.0), 60.0)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (callgrind, callgrind_control)")
    n = min(max(a.requests, 50), 5000)
    rounds = min(max(a.rounds, 1), 10)
    paths = [p for p in a.paths.split(",") if p in PATHS]
    work = Path(tempfile.mkdtemp(prefix="arbiter-instr-"))
    mport = _free_port()
    mock = subprocess.Popen(
        [str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sidecars: list[Counted] = []
    rows: dict[str, dict[str, list[float]]] = {}
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        cfg = _config(f"http://127.0.0.1:{mport}/v1", work)
        for v in a.variant:
            name, src = v.split("=", 1)
            sidecars.append(Counted(name, src, cfg, work))
            rows[name] = {}
        for s in sidecars:
            _wait(f"http://127.0.0.1:{s.port}/healthz", s.proc, timeout_s=600)
            for label in paths:  # warm every path (lazy imports, pools, first fits)
                model, stream = PATHS[label]
                _drive(s.port, model, stream, 100)
        load0 = os.getloadavg()
        for rnd in range(rounds):
            for label in paths:
                model, stream = PATHS[label]
                for s in sidecars if rnd % 2 == 0 else sidecars[::-1]:
                    time.sleep(a.settle_s)  # the last window's spill (recorder, collector) ends
                    idle, idle_s = s.window(lambda: time.sleep(a.idle_s))
                    rate = idle / idle_s

                    def burst(s: Counted = s, model: str = model, stream: bool = stream) -> None:
                        _drive(s.port, model, stream, n)
                        time.sleep(a.tail_s)

                    busy, took = s.window(burst)
                    per = (busy - rate * took) / n / 1e6
                    rows[s.name].setdefault(label, []).append(per)
                    print(json.dumps({"variant": s.name, "path": label, "round": rnd,
                                      "busy_minstr": round(busy / 1e6, 1),
                                      "background_minstr_per_s": round(rate / 1e6, 2),
                                      "window_s": round(took, 1),
                                      "minstr_per_request": round(per, 4)}),
                          file=sys.stderr, flush=True)  # fmt: skip
        load1 = os.getloadavg()
    finally:
        for s in sidecars:
            _stop(s.proc)
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    first = sidecars[0].name
    print(f"load average {load0[0]:.1f} -> {load1[0]:.1f} (counts do not depend on it); millions "
          f"of instructions per request, all threads, background rate subtracted: median "
          f"[min-max] of {rounds} windows of {n} requests at C=1; ratio to {first}")  # fmt: skip
    print("| variant | " + " | ".join(paths) + " |")
    print("|---|" + "---|" * len(paths))
    summary: dict[str, dict[str, float]] = {}
    for s in sidecars:
        cells = []
        for label in paths:
            v = rows[s.name][label]
            med = statistics.median(v)
            ratio = med / statistics.median(rows[first][label])
            summary.setdefault(s.name, {})[label] = round(med, 4)
            cells.append(f"{med:.3f} [{min(v):.3f}-{max(v):.3f}] x{ratio:.3f}")
        print(f"| {s.name} | " + " | ".join(cells) + " |")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
