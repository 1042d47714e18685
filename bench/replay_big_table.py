"""`arbiter replay` on a big table an outsider brings (issue 17's contract): wall time, rows/s and
peak memory of the exact contract command, for code variants side by side in the same run.

It writes a synthetic two-model table (gzipped JSON Lines in the documented row format: ~1.1 KB
a row, 60-word prompts, 80-word answers; nothing from ../shared) to a temporary directory, then
per variant runs `python -m arbiter replay TABLE --models M --sweep --knobs K --out OUT` (with the
controls, as the contract's sweep reports them) in a child process with PYTHONPATH set to the
variant, and reads the child's own peak RSS (wait4). Variants alternate (ABAB...) so each sees
the same host load. It checks that every variant wrote the same report (the figures must not
move), and prints per variant: seconds, requests replayed per second (rows x runs / wall), peak
RSS, and each figure's ratio to the first variant's.

Usage: python bench/replay_big_table.py --variant base=/work/main/python --variant new=python
          [--rows 20000] [--knobs 0.5,0.9] [--rounds 1]
Ends with one JSON line {"VARIANT": {"wall_s": ..., "rows_per_s": ..., "peak_rss_mb": ...}}.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "as", "by", "at",
         "from", "this", "be", "are", "or", "an", "which")  # fmt: skip
MODELS = [
    {"id": "acme/big", "price_in_per_mtok": 10.0, "price_out_per_mtok": 30.0},
    {"id": "acme/small", "price_in_per_mtok": 1.0, "price_out_per_mtok": 1.0},
]


def write_table(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        for i in range(rows):
            prompt = " ".join(rng.choice(WORDS) for _ in range(60)) + f" {i}?"
            hard = rng.random()
            outcomes = {}
            for model, skill in (("acme/big", 0.9), ("acme/small", 0.6)):
                answer = " ".join(rng.choice(WORDS) for _ in range(80))
                outcomes[model] = {
                    "quality": float(rng.random() < skill * (1.2 - hard)),
                    "response": answer,
                    "prompt_tokens": -(-len(prompt) // 4),
                    "completion_tokens": -(-len(answer) // 4),
                }
            row = {"id": f"b{i}", "task": "chat", "outcomes": outcomes,
                   "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
            f.write(json.dumps(row) + "\n")


def run_variant(src: str, table: Path, models: Path, knobs: str, out: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one contract command under PYTHONPATH=src."""
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    cmd = [sys.executable, "-m", "arbiter", "replay", str(table), "--models", str(models),
           "--sweep", "--knobs", knobs, "--no-progress", "--out", str(out)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"{src}: replay failed ({status}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", required=True, help="NAME=PYTHON_SRC_DIR")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--knobs", default="0.5,0.9")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    runs = 1 + 2 * len(args.knobs.split(","))  # the main run, the sweep, the shuffled sweep
    with tempfile.TemporaryDirectory(prefix="replay-big-") as tmp:
        table, models = Path(tmp) / "big.jsonl.gz", Path(tmp) / "models.json"
        write_table(table, args.rows)
        models.write_text(json.dumps(MODELS))
        size = len(gzip.decompress(table.read_bytes()))
        print(f"table: {args.rows} rows, {size / 2**20:.1f} MB of JSON Lines, {runs} runs each")
        walls: dict[str, list[float]] = {n: [] for n in variants}
        rss: dict[str, list[float]] = {n: [] for n in variants}
        reports: dict[str, bytes] = {}
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                out = Path(tmp) / f"{name}.json"
                wall, peak = run_variant(variants[name], table, models, args.knobs, out)
                walls[name].append(wall)
                rss[name].append(peak)
                reports[name] = out.read_bytes()
    first = next(iter(variants))
    same = all(rep == reports[first] for rep in reports.values())
    result = {}
    print(f"{'variant':<10} {'wall s':>8} {'req/s':>9} {'peak RSS MB':>12}  ratio to {first}")
    for name in variants:
        wall, peak = statistics.median(walls[name]), max(rss[name])
        result[name] = {"wall_s": round(wall, 2), "rows_per_s": round(args.rows * runs / wall),
                        "peak_rss_mb": round(peak, 1)}  # fmt: skip
        base = result[first]
        ratios = f"wall {wall / base['wall_s']:.2f}x, RSS {peak / base['peak_rss_mb']:.2f}x"
        print(f"{name:<10} {wall:>8.1f} {result[name]['rows_per_s']:>9} {peak:>12.1f}  {ratios}")
    print(f"reports identical across variants: {same}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
