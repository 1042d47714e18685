"""What grading one answer costs the sidecar, for code variants side by side (probe24c).

1. How long the event loop stalls while the learner grades one long answer in its worker
   thread: CPython's parser and orjson hold the GIL for a whole parse, so a thread does not
   keep the loop free. Per case, the longest gap a 5 ms ticker on the loop saw while
   `grade_answer` ran in `asyncio.to_thread`.
2. The wall time of one sandbox run of a trivial program (best of 5 per round): what the
   harness's audit hook and its setup add to every run.

Each variant (a PYTHONPATH) runs in its own child, the children take turns round after round
(ABAB...), and each cell is the median over rounds [min-max] with its ratio to the first
variant measured in the same run. Say the host's load (`uptime`) beside the figures.

    python bench/grading_cost.py --variant base=/work/wt/base24/python --variant new=python
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

SANDBOX = "sandbox run (trivial)"
# grade25: tests that import (the modules bound and watched) and loop (a statement's names told
# to the guard on each pass): what the tests' binding adds
SANDBOX_BOUND = "sandbox run (tests import, 200-pass loop)"
BOUND_TESTS = (
    "import math\nfrom collections import Counter\nfor i in range(200):\n"
    "    assert add(i, 1) == i + 1\nassert math.isclose(add(0.1, 0.2), 0.3) and Counter('a')\n"
)
CODE_LINE = "def f(x):\n    return [i * x for i in range(10) if i % 2]\n"


def cases() -> dict[str, tuple[str, str, dict[str, str] | None]]:
    """name -> (task, answer, response_format)"""
    out: dict[str, tuple[str, str, dict[str, str] | None]] = {}
    for kib in (8, 64, 256):
        code = CODE_LINE * (kib * 1024 // len(CODE_LINE))
        out[f"fenced code {kib} KiB"] = ("code", f"```python\n{code}```\n", None)
    out["unfenced code 256 KiB"] = ("code", CODE_LINE * (256 * 1024 // len(CODE_LINE)), None)
    doc = json.dumps([{"id": i, "name": f"item{i}"} for i in range(8 * 1024 * 1024 // 28)])
    out["JSON 8 MiB"] = ("extraction", doc, {"type": "json_object"})
    return out


async def _stall(task: str, answer: str, response_format: dict[str, str] | None) -> float:
    from arbiter.grading import grade_answer

    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    await asyncio.to_thread(
        grade_answer, task=task, prompt="Write it.", content=answer, finish_reason="stop",
        response_format=response_format,
    )  # fmt: skip
    done = True
    await tick
    return max(gaps) * 1000


def _sandbox_ms(tests: str = "assert add(1, 2) == 3\n") -> float:
    from arbiter.sandbox.python_runner import PythonRunner
    from arbiter.sandbox.runner import Job, Limits

    runner, job = PythonRunner(), Job("def add(a, b):\n    return a + b\n", tests)
    return min(runner.run(job, Limits()).wall_ms for _ in range(5))


def child(path: str) -> None:
    """One line per round on stdin: each case's longest loop gap and a sandbox run (ms), JSON."""
    sys.path.insert(0, path)
    work = cases()
    for _ in sys.stdin:
        row = {name: asyncio.run(_stall(*case)) for name, case in work.items()}
        row[SANDBOX] = _sandbox_ms()
        row[SANDBOX_BOUND] = _sandbox_ms(BOUND_TESTS)
        print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", required=True, help="name=PYTHONPATH")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    variants = [v.split("=", 1) for v in args.variant]
    procs = {
        name: subprocess.Popen([sys.executable, __file__, "--variant", "x=x", "--child", path],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for name, path in variants
    }  # fmt: skip
    got: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
    try:
        for _ in range(args.rounds):
            for name, proc in procs.items():  # turns: ABAB...
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
                got[name].append(json.loads(proc.stdout.readline()))
    finally:
        for proc in procs.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=60)
    first = variants[0][0]
    print(f"ms, median of {args.rounds} rounds [min-max], ratio to {first}: the longest loop gap "
          f"while grading each answer, then one sandbox run")  # fmt: skip
    for case in [*cases(), SANDBOX, SANDBOX_BOUND]:
        base = statistics.median(r[case] for r in got[first])
        cells = []
        for name, _ in variants:
            values = [r[case] for r in got[name]]
            med = statistics.median(values)
            cells.append(
                f"{name} {med:7.1f} [{min(values):.0f}-{max(values):.0f}] x{med / base:.2f}"
            )
        print(f"  {case:24s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
