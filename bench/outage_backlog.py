"""How long the policy sync takes to write an outage's backlog of queued batches once the store
is back, and how long it holds the store's connection (rep27: up to state_sync.UNSENT_MAX =
1,000 batches, each written in a transaction of its own before; now a bounded number of
batches per transaction).

A `Services` on a fresh store (SQLite file, or a fresh PostgreSQL database); its store's
transactions refused (`_tx` raises StoreError) through `--batches` failed syncs, each after
grades on `--arms` arms; then one sync with the store back, timed, with every transaction's
hold (time inside `_tx`). Each round runs every variant once, in turn, each in a fresh child
process; the median over rounds and its ratio to the first variant measured in the same run.
Each child checks that the store holds every grade once.

    python bench/outage_backlog.py --variant base=/work/wt/base27/python --variant new=python \\
        --backend sqlite --backend postgres
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import contextlib, json, sys, tempfile, time
from pathlib import Path
from arbiter import config
from arbiter.offline.demo import demo_settings
from arbiter.services import Services
from arbiter.store import StoreError
from arbiter.toml_text import to_toml
from tests.conftest import ENV
from tests.pg import fresh_database, require_pg

backend, batches, arms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def run(url, tmp):
    doc = demo_settings("http://127.0.0.1:9/v1", tmp / "unused.db")
    doc["store"]["url"] = url
    svc = Services(config.loads(to_toml(doc), env=ENV), seed=1)
    svc.load_state()
    keys = [("default", f"task{j}", "sim-small") for j in range(arms)]
    store = svc.store

    def refused():
        raise StoreError("connection refused (bench outage)")

    store._tx = refused
    for _ in range(batches):
        for key in keys:
            svc.policy.add(key, 2.0, 1.0, 3.0)
        try:
            svc.sync_policy()
        except StoreError:
            pass
    del store._tx
    holds = []
    opened = store._tx

    @contextlib.contextmanager
    def timed():
        t0 = time.perf_counter()
        with opened() as cur:
            yield cur
        holds.append(time.perf_counter() - t0)

    store._tx = timed
    t0 = time.perf_counter()
    svc.sync_policy()
    wall = time.perf_counter() - t0
    del store._tx
    stored = sum(a.n for a in store.load_arms("default"))
    store.close()
    assert stored == 3.0 * arms * batches, (stored, arms, batches)
    return {"wall_s": wall, "txs": len(holds), "max_hold_s": max(holds), "hold_s": sum(holds)}


with tempfile.TemporaryDirectory() as tmp:
    if backend == "sqlite":
        out = run(f"sqlite:///{tmp}/bench.db", Path(tmp))
    else:
        with fresh_database(require_pg()) as url:
            out = run(url, Path(tmp))
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="name=PYTHONPATH")
    ap.add_argument("--backend", action="append", default=[], choices=["sqlite", "postgres"])
    ap.add_argument("--batches", type=int, default=1000)
    ap.add_argument("--arms", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    variants = [v.split("=", 1) for v in args.variant] or [["this", "python"]]
    for backend in args.backend or ["sqlite"]:
        got: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
        for _ in range(args.rounds):
            for name, path in variants:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, backend, str(args.batches), str(args.arms)],
                    env=dict(os.environ, PYTHONPATH=f"{path}{os.pathsep}{ROOT}"),
                    capture_output=True,
                    text=True,
                    timeout=600,
                    cwd=ROOT,
                )
                if out.returncode:
                    sys.exit(f"{name} on {backend} failed:\n{out.stderr[-3000:]}")
                got[name].append(json.loads(out.stdout.splitlines()[-1]))
        first = statistics.median(r["wall_s"] for r in got[variants[0][0]])
        print(f"{backend}: {args.batches} queued batches of {args.arms} arms, "
              f"{args.rounds} rounds (median, range)")  # fmt: skip
        for name, _ in variants:
            rows = got[name]
            wall = sorted(r["wall_s"] for r in rows)
            hold = sorted(r["max_hold_s"] for r in rows)
            held = [r["hold_s"] for r in rows]
            med = statistics.median(wall)
            print(
                f"  {name}: sync {med:.2f} s ({wall[0]:.2f}-{wall[-1]:.2f}), {med / first:.2f}x; "
                f"{rows[0]['txs']} transactions, held {statistics.median(held):.2f} s in all, "
                f"longest {statistics.median(hold) * 1e3:.0f} ms ({hold[0] * 1e3:.0f}-"
                f"{hold[-1] * 1e3:.0f})"
            )


if __name__ == "__main__":
    main()
