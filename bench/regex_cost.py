"""What each linear-time pattern that reads client or upstream text costs, by text kind and size,
for code variants side by side (regex20).

classify20 found that a Unicode ``\\b`` keeps the regex engine's DFA off non-ASCII text (classify
took ~2.3 ms per 4 KB of CJK with a digit in it); this bench looks at every other pattern on the
request path and in the graders. Each variant (a PYTHONPATH) runs in its own child process that
finds the module-level ``linear.Pattern``s of MODULES (alone or in a tuple/list of pairs) and
times a full scan (``finditer``, what ``findall``/``sub`` do and what ``search`` does when
nothing matches) of each text, and the request-path calls that run them on a whole text.
Children take turns round after round (ABAB...), so host noise falls on both; per cell the
median over rounds of the best-of-``--reps`` time, and the ratio to the first variant measured
in the same run. Texts: CJK, English, code and JSON, each with a digit in it, at 4,000 and
100,000 characters.

    python bench/regex_cost.py --variant base=/work/wt/base20/python --variant new=python
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Modules whose patterns read client or upstream text (config_parse reads operator files only;
# offline/ is the simulator and replay tooling, not the sidecar).
MODULES = (
    "arbiter.classify",
    "arbiter.reference",
    "arbiter.mathcheck",
    "arbiter.cascade",
    "arbiter.judge",
    "arbiter.grading",
    "arbiter.sandbox.extract",
)
SIZES = (4_000, 100_000)


def texts() -> dict[str, str]:
    """Text kind x size -> text (deterministic); each starts with a nonce holding digits."""
    words = ("the", "model", "routes", "each", "question", "to", "the", "cheapest", "one", "that")
    out: dict[str, str] = {}
    for n in SIZES:
        body = {
            "cjk": "路由模型的成本与质量之间需要权衡。" * (n // 17 + 1),
            "english": " ".join(words[i % len(words)] for i in range(n // 4)),
            "code": "def f(x):\n    return [i * x for i in range(10) if i % 2]\n" * (n // 55 + 1),
            "json": json.dumps([{"id": i, "name": f"item{i}"} for i in range(n // 28 + 1)]),
        }
        for kind, text in body.items():
            out[f"{kind} {n}"] = ("[3fa9c0d1e2b4a7f6] " + text)[:n]
    return out


def patterns() -> dict[str, Any]:
    """module.NAME (or module.NAME[i]) -> linear.Pattern, for every pattern in MODULES."""
    from arbiter import linear

    found: dict[str, Any] = {}
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        short = mod_name.removeprefix("arbiter.")
        for name, value in vars(mod).items():
            if isinstance(value, linear.Pattern):
                found[f"{short}.{name}"] = value
            elif isinstance(value, tuple | list):
                for i, item in enumerate(value):
                    first = item[0] if isinstance(item, tuple) and item else item
                    if isinstance(first, linear.Pattern):
                        found[f"{short}.{name}[{i}]"] = first
    return found


def callers() -> dict[str, Any]:
    """The request-path calls that run the fixed patterns on a whole text (a row each)."""
    from arbiter import cascade, grading
    from arbiter.reference import ReferenceGrader

    references = ReferenceGrader(None)
    return {
        "call grading.extract_final_answer": grading.extract_final_answer,
        "call reference letter grade": lambda t: references.grade(t, "B"),
        "call cascade.verifier_features": lambda t: cascade.verifier_features(t, t),
    }


def child(path: str, reps: int) -> None:
    """Serve timing requests on stdin: one line per round, answer best-of-reps per cell."""
    sys.path.insert(0, path)
    found = patterns()
    calls = callers()
    prompts = texts()
    print(json.dumps(sorted(found) + sorted(calls)), flush=True)
    for _ in sys.stdin:
        result = {}
        for pname, pattern in found.items():
            for tname, text in prompts.items():
                best = float("inf")
                for _ in range(reps if len(text) < 10_000 else max(1, reps // 5)):
                    start = time.perf_counter()
                    list(pattern.finditer(text))
                    best = min(best, time.perf_counter() - start)
                result[f"{pname}|{tname}"] = best * 1e3
        for cname, call in calls.items():
            for tname, text in prompts.items():
                best = float("inf")
                for _ in range(reps if len(text) < 10_000 else max(1, reps // 5)):
                    start = time.perf_counter()
                    call(text)
                    best = min(best, time.perf_counter() - start)
                result[f"{cname}|{tname}"] = best * 1e3
        print(json.dumps(result), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="name=PYTHONPATH")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--min-ms", type=float, default=0.05, help="show rows where a cell is above")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.reps)
        return
    variants = [v.split("=", 1) for v in args.variant] or [["current", "python"]]
    env = dict(os.environ, PYTHONPATH="")
    procs = {}
    names: dict[str, list[str]] = {}
    for name, path in variants:
        cmd = [sys.executable, __file__, "--child", str(Path(path).resolve())]
        cmd += ["--reps", str(args.reps)]
        procs[name] = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        line = procs[name].stdout.readline()  # type: ignore[union-attr]
        names[name] = json.loads(line)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name, _ in variants}
    for _ in range(args.rounds):
        for name, proc in procs.items():
            proc.stdin.write("go\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            for cell, ms in json.loads(proc.stdout.readline()).items():  # type: ignore[union-attr]
                samples[name].setdefault(cell, []).append(ms)
    for proc in procs.values():
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait()
    first = variants[0][0]
    kinds = list(texts())
    print(f"ms per full scan, median over {args.rounds} rounds of best-of-{args.reps}; rows with a")
    print(f"cell >= {args.min_ms} ms in any variant; ratio to {first} in the same run")
    header = "| pattern | variant | " + " | ".join(kinds) + " |"
    print(header)
    print("|" + "---|" * (2 + len(kinds)))
    all_patterns = sorted(set().union(*names.values()))
    for pname in all_patterns:
        med = {
            name: {
                k: statistics.median(samples[name][f"{pname}|{k}"])
                for k in kinds
                if f"{pname}|{k}" in samples[name]
            }
            for name, _ in variants
        }
        if max((v for m in med.values() for v in m.values()), default=0) < args.min_ms:
            continue
        for name, _ in variants:
            cells = []
            for k in kinds:
                ms = med[name].get(k)
                base = med[first].get(k)
                if ms is None:
                    cells.append("-")
                elif name == first or not base:
                    cells.append(f"{ms:.3f}")
                else:
                    cells.append(f"{ms:.3f} ({ms / base:.2f}x)")
            print(f"| {pname} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
