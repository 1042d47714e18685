"""Inline image data check (arbiter/image_data.py): the time to decide whether a base64 payload
is valid, against decoding it (b64decode(validate=True), strict a2b_base64), at growing sizes.
The check decodes nothing: it must stay linear (4x the size, ~4x the time) and below a decode.
Prints a table, then one JSON line. Bounded: REPEATS calls per size and method, min taken.
Usage: python bench/image_data.py [--quick]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import time
from collections.abc import Callable
from functools import partial

from arbiter.image_data import base64_problem

SIZES_MB = (1, 4, 16)
QUICK_SIZES_MB = (1, 4)
REPEATS = 5


def _best_ms(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes only")
    args = ap.parse_args()
    rows = []
    for mb in QUICK_SIZES_MB if args.quick else SIZES_MB:
        data = base64.b64encode(os.urandom(mb * 3 * 1024 * 1024 // 4)).decode()
        assert base64_problem(data) is None
        rows.append({
            "base64_mb": round(len(data) / 2**20, 2),
            "check_ms": round(_best_ms(partial(base64_problem, data)), 3),
            "b64decode_validate_ms": round(
                _best_ms(partial(base64.b64decode, data, validate=True)), 3
            ),
            "a2b_strict_ms": round(
                _best_ms(partial(binascii.a2b_base64, data, strict_mode=True)), 3
            ),
        })  # fmt: skip
    print(f"{'MB':>6} {'check ms':>9} {'b64decode ms':>13} {'a2b strict ms':>14}")
    for r in rows:
        print(f"{r['base64_mb']:>6} {r['check_ms']:>9} {r['b64decode_validate_ms']:>13} "
              f"{r['a2b_strict_ms']:>14}")  # fmt: skip
    growth = rows[-1]["check_ms"] / max(rows[0]["check_ms"], 1e-9)
    size_growth = rows[-1]["base64_mb"] / rows[0]["base64_mb"]
    print(json.dumps({"bench": "image_data", "rows": rows, "check_growth": round(growth, 2),
                      "size_growth": size_growth, "load_avg_1m": os.getloadavg()[0]}))  # fmt: skip


if __name__ == "__main__":
    main()
