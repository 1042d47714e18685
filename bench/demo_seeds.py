"""Run the demo workload for several seeds and print second-half savings and quality ratio.

Usage: python bench/demo_seeds.py [REQUESTS] [SEED ...]   (checks the demo bar is robust)
A seed may repeat (runs differ by timing); DEMO_CONCURRENCY sets the client's concurrency (8).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from arbiter.offline import demo
from arbiter.offline.workload import make_workload


def one(n: int, seed: int) -> dict[str, float]:
    items = make_workload(n, seed)
    with tempfile.TemporaryDirectory() as tmp, demo.running_stack(Path(tmp)) as st:
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
            )
        )
    res = demo.summarize(data["rows"], demo.BASELINE, len(items))
    half = res["second_half"]
    return {
        "seed": seed,
        "savings_pct": half["savings_pct"],
        "quality_ratio": half["quality_ratio"],
    }


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    seeds = [int(a) for a in sys.argv[2:]] or [7, 1, 2, 3]
    rows = [one(n, s) for s in seeds]
    for r in rows:
        ok = r["savings_pct"] >= 50 and r["quality_ratio"] >= 0.95
        print(
            f"seed {r['seed']:>3}: second half {r['savings_pct']:5.1f}% cheaper at "
            f"{r['quality_ratio']:.3f} of baseline quality  {'ok' if ok else 'MISS'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
