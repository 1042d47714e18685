"""What one finished call's answer-length update costs (`OutputLength.observe`, on the event
loop after each answer), for code variants side by side (rep24: the regressions' precision is
kept beside the native ones, so a restart can seed from them: store/length_fits.py).

Each round runs every variant once, in turn (ABAB...), each in a fresh child process: the
median over rounds of the best-of-5 mean us per observe over 2,000 calls across 8 models and 3
prompts, and its ratio to the first variant measured in the same run.

    python bench/length_observe.py --variant base=/work/wt/base24b/python --variant new=python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, time
from arbiter.difficulty import prompt_stats
from arbiter.output_length import OutputLength
prompts = [prompt_stats(t) for t in ("Say hi.", "Write an essay on rivers. " * 20, "2+2?")]
calls = [(f"m{i % 8}", prompts[i % 3], 5 + 37 * (i % 11)) for i in range(2000)]
best = float("inf")
for _ in range(5):
    lengths = OutputLength(256.0)
    start = time.perf_counter()
    for model, stats, tokens in calls:
        lengths.observe(model, stats, tokens, task="t")
    best = min(best, (time.perf_counter() - start) / len(calls))
print(json.dumps(best * 1e6))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="name=PYTHONPATH")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    variants = [v.split("=", 1) for v in args.variant] or [["this", "python"]]
    us: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _ in range(args.rounds):
        for name, path in variants:
            out = subprocess.run(
                [sys.executable, "-c", CHILD],
                env=dict(os.environ, PYTHONPATH=path),
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            us[name].append(json.loads(out.stdout))
    first = statistics.median(us[variants[0][0]])
    for name, _ in variants:
        med = statistics.median(us[name])
        lo, hi = min(us[name]), max(us[name])
        print(f"{name}: {med:.1f} us per observe (range {lo:.1f}-{hi:.1f}), {med / first:.2f}x")


if __name__ == "__main__":
    main()
