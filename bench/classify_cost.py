"""What `classify()` costs per call on the request path, by prompt kind and size, for code
variants side by side (classify20; issue 17's "keep it linear and cheap").

The loop bench (`bench/loop_time_by_prompt_size.py`, bench/results/scale.md) saw classify take
2.4-3.8 ms for CJK prompts of any size from 10 KB up; its prompts start with a hex nonce, so
they hold digits. Here each variant (a PYTHONPATH) runs in its own child process and the
children take turns, round after round (ABAB...), so host noise falls on both; per cell the
median over rounds of the best-of-`--reps` time of one call, and the ratio to the first
variant measured in the same run. Prompts: English, code, JSON and CJK text with that nonce, a
CJK text without digits, and a GSM8K-like word problem, at 300 / 4,000 / 100,000 characters
(classify reads at most the first 3,000 and last 1,000 characters).

    python bench/classify_cost.py --variant base=/work/wt/base20/python --variant new=python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = (300, 4_000, 100_000)
WORDS = ("the", "model", "routes", "each", "question", "to", "the", "cheapest", "one", "that")


def texts() -> dict[str, str]:
    """Prompt kind x size -> text (deterministic)."""
    out: dict[str, str] = {}
    for n in SIZES:
        nonce = "[3fa9c0d1e2b4a7f6] "
        body = {
            "english": " ".join(WORDS[i % len(WORDS)] for i in range(n // 4)),
            "code": "def f(x):\n    return [i * x for i in range(10) if i % 2]\n" * (n // 55 + 1),
            "json": json.dumps([{"id": i, "name": f"item{i}"} for i in range(n // 28 + 1)]),
            "cjk": "路由模型的成本与质量之间需要权衡。" * (n // 17 + 1),
        }
        for kind, text in body.items():
            out[f"{kind} {n}"] = (nonce + text)[:n]
        out[f"cjk-no-digit {n}"] = ("路由模型的成本与质量之间需要权衡。" * (n // 17 + 1))[:n]
        problem = (
            "A baker sells 14 loaves a day at 3 dollars each and pays 12 dollars for flour. "
            * (n // 80 + 1)
        )
        out[f"word-problem {n}"] = problem[: n - 40] + " What is her profit over a week?"
    return out


def child(path: str, reps: int) -> None:
    """Serve timing requests on stdin: one line per round, answer the best-of-reps per text."""
    sys.path.insert(0, path)
    from arbiter.classify import classify

    prompts = texts()
    for _ in sys.stdin:
        result = {}
        for name, text in prompts.items():
            messages = [{"role": "user", "content": text}]
            best = float("inf")
            for _ in range(reps):
                start = time.perf_counter()
                classify(messages)
                best = min(best, time.perf_counter() - start)
            result[name] = best * 1e3
        print(json.dumps(result), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="name=PYTHONPATH")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.reps)
        return
    variants = [v.split("=", 1) for v in args.variant] or [["this", "python"]]
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                str(Path(path).resolve()),
                "--reps",
                str(args.reps),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=path),
        )
        for name, path in variants
    }
    times: dict[str, dict[str, list[float]]] = {name: {} for name in procs}
    for _ in range(args.rounds):
        for name, proc in procs.items():  # take turns: every round runs each variant once
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
            for cell, ms in json.loads(proc.stdout.readline()).items():
                times[name].setdefault(cell, []).append(ms)
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    first = variants[0][0]
    header = " | ".join(f"{name} ms (x {first})" for name in procs)
    print(f"| prompt | {header} |")
    print("|---|" + "---|" * len(procs))
    summary: dict[str, dict[str, float]] = {}
    for cell in times[first]:
        base = statistics.median(times[first][cell])
        row = []
        for name in procs:
            ms = statistics.median(times[name][cell])
            summary.setdefault(name, {})[cell] = round(ms, 4)
            row.append(f"{ms:.4f} ({ms / base:.2f}x)")
        print(f"| {cell} | " + " | ".join(row) + " |")
    print(json.dumps({"rounds": args.rounds, "reps": args.reps, "median_ms": summary}))


if __name__ == "__main__":
    main()
