"""Run the demo workload for several seeds and print second-half savings and quality ratio.

Usage: python bench/demo_seeds.py [REQUESTS] [SEED ...]   (checks the demo bar is robust)
Runs like `arbiter demo` (calibration, cache on, seeded repeats); ends with one JSON line.
A seed may repeat (runs of one seed differ only by the order grades land in);
DEMO_CONCURRENCY sets the client's concurrency (8).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from arbiter.offline import demo
from arbiter.offline.workload import make_workload


def one(n: int, seed: int) -> dict[str, Any]:
    items = demo.with_repeats(make_workload(n, seed), seed)
    with (
        tempfile.TemporaryDirectory() as tmp,
        demo.running_stack(
            Path(tmp), cache=True, anthropic_models=demo.ANTHROPIC_TIERS, seed=seed
        ) as st,
    ):
        data = asyncio.run(
            demo.drive(
                st.base_url,
                items,
                baseline=demo.BASELINE,
                seed=seed,
                concurrency=int(os.environ.get("DEMO_CONCURRENCY", "8")),
                api_key=st.api_key,
                baseline_api_key=st.baseline_key,
                progress=False,
                calibration=demo.calibration_items(n, seed),
            )
        )
    res = demo.summarize(data["rows"], demo.BASELINE, len(items))
    half = res["second_half"]
    return {
        "seed": seed,
        "savings_pct": half["routing_savings_pct"],
        "misses_savings_pct": half["savings_pct"],
        "quality_ratio": half["quality_ratio"],
        "ok": demo.meets_bar(half),
    }


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    seeds = [int(a) for a in sys.argv[2:]] or [0, 1, 2, 3, 4]
    rows = [one(n, s) for s in seeds]
    for r in rows:
        print(
            f"seed {r['seed']:>3}: second half {r['savings_pct']:5.1f}% cheaper (misses alone "
            f"{r['misses_savings_pct']:5.1f}%) at {r['quality_ratio']:.3f} of baseline quality  "
            f"{'ok' if r['ok'] else 'MISS'}"
        )
    print(orjson.dumps({"runs": rows, "all_ok": all(r["ok"] for r in rows)}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
