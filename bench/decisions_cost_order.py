"""bench/decisions_cost_order: the decision kernel over a packed arm table drawing every arm in
pool order (`_native.decide_rows`, what `Router.decide` ran until the sixth session) and
visiting the arms cheapest first with early stop for the pick alone (`_native.decide_rows_by_cost`;
`Router.decide` runs the same pass, also for the fallbacks, through `decide_request`), on
bench/scale.py's decision pool (bench/decisions_ab.py's router: every arm graded,
baseline m0, quality target 0.95, Thompson sampling, a difficulty score) at 10, 100 and 1,000
models; the costs are the request's exact expected costs, given (computing them all, which the
cost order needs, is priced separately). CPU time, interleaved, median of rounds; also how many
arms a decision draws. Usage: python bench/decisions_cost_order.py [--rounds 15]. Ends with one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "python"), str(REPO / "bench")]

import numpy as np  # noqa: E402

from arbiter import _native  # noqa: E402
from decisions_ab import _cpu_us, _router  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    out: dict[str, Any] = {}
    for n in (10, 100, 1000):
        router, req = _router("arbiter", n)
        router.decide(req)
        pool = router._pool_index()
        t = router._table(pool, req.tenant, req.task)
        table = _native.pack_arms(
            *(
                np.ascontiguousarray(x, dtype=np.float64).tobytes()
                for x in (t.alpha, t.beta, t.has_slope, t.slope_mean, t.slope_precision,
                          t.slope_center)
            )
        )  # fmt: skip
        rows = np.arange(n, dtype=np.int64).tobytes()
        costs = router._cost_args(pool, req)
        cost = _native.request_costs(*costs, rows)
        center0 = router._task_center.get((req.tenant, req.task), (0.0, 0.0))[0]
        e = req.easiness
        args_ = (table, b"", cost, e, center0, 0, 0.95, 1.0)
        seeds = iter(range(10**9))

        def old(a: Any = args_, s: Any = seeds) -> Any:
            return _native.decide_rows(*a, next(s), 0.0, 3)

        def new(a: Any = args_, s: Any = seeds) -> Any:
            return _native.decide_rows_by_cost(*a, next(s), 0.0)

        def all_costs(c: Any = costs, r: bytes = rows) -> Any:
            return _native.request_costs(*c, r)

        visited = sorted(len(new()[3]) for _ in range(2000))
        per = 300 if n == 1000 else 2000
        runs: dict[str, list[float]] = {"full_scan": [], "cost_order": [], "all_costs": []}
        for _ in range(args.rounds):  # interleaved: load hits all alike
            runs["full_scan"].append(_cpu_us(old, per))
            runs["cost_order"].append(_cpu_us(new, per))
            runs["all_costs"].append(_cpu_us(all_costs, per))
        out[str(n)] = {k: round(statistics.median(v), 2) for k, v in runs.items()}
        out[str(n)]["visited_median"] = visited[len(visited) // 2]
        out[str(n)]["visited_p99"] = visited[int(len(visited) * 0.99)]
        out[str(n)]["visited_max"] = visited[-1]
        print(n, out[str(n)], flush=True)
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
