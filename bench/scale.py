"""bench/scale: how Arbiter's cost grows with the work (issue 18).

Curves, each bounded in time and run in this process unless said otherwise:
  decisions  routing decision time for pools of 10, 100, 1,000 eligible models: the array path
             (Router.decide) against the per-model reference (Router.decide_reference),
             interleaved so a busy machine slows both alike; plus the arrays' memory per
             (tenant, task).
  tenants    10,000 tenants with their own quality targets and 100,000 API keys in a SQLite
             store: RSS of a Services that routed once per tenant, auth lookup p99 (cold: store;
             warm: cache), and the policy sync's size per interval (incremental vs whole table).
  history    N recorded decisions (--rows; 1M in --quick, 10M in full) bulk-loaded into SQLite
             (executemany in big transactions) and PostgreSQL (COPY; when --pg-url or
             ARBITER_TEST_PG_URL is set): p95 of stats, timeseries, the feed's paging and the
             export's first page (store calls, then a few through the HTTP app), the export's
             memory, and retention under writes (bench/scale_history.py).
  workers    CPU seconds per request of `arbiter serve` at server.workers = 1 and 2 (so
             requests/s per core), and the raw requests/s on this host's cores; see
             bench/scale_workers.py.
  tail       added p99 at 50% and 80% of one worker's max throughput (sidecar on one core, mock
             and load generator on another; open loop) and the max event-loop stall (60 s
             soak in --quick, 10 minutes in full); see bench/scale_workers.py.
  replicas   1, 2, 4 and 8 `arbiter serve` processes on one PostgreSQL (a fresh database on
             --pg-url's server) under sustained load: requests/s, commits, tuples written, CPU and
             connections of PostgreSQL per 1,000 requests, policy-sync lag, budget overshoot
             (bench/scale_replicas.py, which also runs on its own).
Ends with one JSON line (null for a figure not measured; `why` says why). Results go in
bench/results/scale.md by hand. Usage: python bench/scale.py [--quick] [--only decisions,...]
[--tail-rates R50,R80[,R80OPEN]] (the tail windows at pinned rates, for A/Bs at equal rates)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "python"), str(REPO), str(REPO / "bench")]

import scale_workers  # noqa: E402  # the workers and tail curves
from arbiter.difficulty import prompt_stats  # noqa: E402
from arbiter.output_length import OutputLength  # noqa: E402
from arbiter.policy import Policy  # noqa: E402
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams  # noqa: E402

PROMPT = "Explain the difference between TCP and UDP in two sentences, with one example each."


def _timed(fn: Callable[[], object], seconds: float, max_n: int) -> list[float]:
    out: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and len(out) < max_n:
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# -- decisions ---------------------------------------------------------------------------------
def _router(n: int) -> tuple[Router, RouteRequest]:
    """A warmed router over n eligible models: every arm graded, every model with its own
    answer-length offset (the worst case for the cost estimate), a production-shaped request
    (prompt statistics and a difficulty score, full Thompson sampling)."""
    rng = random.Random(n)
    pool = [
        PoolModel(f"m{i}", rng.uniform(0.1, 10.0), rng.uniform(0.2, 30.0), 128_000,
                  frozenset({"tools", "json"}), {"chat": rng.uniform(0.5, 0.9)})
        for i in range(n)
    ]  # fmt: skip
    lengths = OutputLength(350)
    router = Router(pool, RouterParams(baseline="m0"), Policy(), lengths=lengths,
                    is_available=lambda _m: True, suspects=lambda: ())  # fmt: skip
    stats = prompt_stats(PROMPT)
    for i in range(n):
        for k in range(3):
            router.learn("t", "chat", f"m{i}", float(k % 2), easiness=0.3 * k - 0.3)
        lengths.observe(f"m{i}", stats, 100 + i)
    return router, RouteRequest("t", "chat", 200, 500, frozenset({"tools"}), 0.3, stats)


def bench_decisions(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"decision_us": {}, "reference_us": {}, "table_bytes": {}}
    for n in (10, 100, 1000):
        router, req = _router(n)
        fast: list[float] = []
        ref: list[float] = []
        for _ in range(20):
            router.decide(req)
        budget = 1.5 if quick else 5.0
        end = time.perf_counter() + budget
        while time.perf_counter() < end:  # interleaved: load hits both alike
            fast += _timed(lambda r=router, q=req: r.decide(q), 0.05, 200)  # type: ignore[misc]
            ref += _timed(lambda r=router, q=req: r.decide_reference(q), 0.05, 50)  # type: ignore[misc]
        out["decision_us"][str(n)] = round(statistics.median(fast) * 1e6, 1)
        out["reference_us"][str(n)] = round(statistics.median(ref) * 1e6, 1)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for t in range(50):
            router.decide(RouteRequest(f"x{t}", "chat", 200, 500, frozenset(), 0.1))
        # plus each table's packed rows, held natively (`_native.PackedArms`, 16 f64 per
        # model), which tracemalloc does not see
        python_bytes = (tracemalloc.get_traced_memory()[0] - before) // 50
        out["table_bytes"][str(n)] = python_bytes + n * 16 * 8
        tracemalloc.stop()
    import numpy as np

    from arbiter import _native

    a = np.random.default_rng(0).random(1000) * 10 + 1
    ab = a.tobytes()
    z = np.zeros(1000).tobytes()
    table = _native.pack_arms(ab, ab, z, z, np.ones(1000).tobytes(), z)
    ts = _timed(
        lambda: _native.decide_rows(table, b"", ab, None, 0.0, 0, 0.95, 1.0, 7, 0.0, 18), 1.0, 2000
    )
    out["choose_kernel_us_1000"] = round(statistics.median(ts) * 1e6, 1)
    out["calibration_ms"] = round(  # same machine, same run: how slow is it now
        statistics.median(_timed(lambda: sum(range(100_000)), 0.5, 50)) * 1e3, 3
    )
    return out


# -- tenants and keys --------------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_tenants(quick: bool, workdir: Path) -> dict[str, Any]:
    from arbiter import config
    from arbiter.auth import _hash
    from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV, demo_settings
    from arbiter.principal import Principal
    from arbiter.records import PolicyDelta
    from arbiter.services import Services
    from arbiter.toml_text import to_toml

    n_tenants, n_keys = 10_000, 100_000
    db = workdir / "tenants.db"
    doc = demo_settings("http://127.0.0.1:9/v1", db)
    doc["store"]["url"] = f"sqlite:///{db}"
    doc["tenants"] = {
        f"t{i}": {"quality_target": round(0.80 + 0.01 * (i % 15), 2)} for i in range(n_tenants)
    }
    env = {**os.environ, API_KEY_ENV: "x", ADMIN_KEY_ENV: "adm-" + "a" * 32}
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    settings = config.loads(to_toml(doc), env=env)
    parse_s = time.perf_counter() - t0
    svc = Services(settings, seed=1)
    svc.store.migrate()
    models = [m.name for m in svc.pool]
    # 100,000 keys and every tenant's arms, bulk
    secrets = [f"s{i:06d}" + "x" * 20 for i in range(n_keys)]
    conn = svc.store._conn()  # type: ignore[attr-defined]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO api_keys (id, tenant, name, secret_hash, created_ts) VALUES (?, ?, '', ?, ?)",
        ((f"k{i:011d}", f"t{i % n_tenants}", _hash(s), time.time())
         for i, s in enumerate(secrets)),
    )  # fmt: skip
    conn.execute("COMMIT")
    deltas = [
        PolicyDelta(f"t{i}", task, m, 1.0, 0.5, 1.5)
        for i in range(n_tenants) for task in ("chat", "math") for m in models
    ]  # fmt: skip
    svc.store.write(deltas)
    t0 = time.perf_counter()
    svc.load_state()
    full_sync_s = time.perf_counter() - t0
    full_rows = svc.last_sync_rows
    # a replica changes 1% of the arms; the next interval's sync
    svc.store.write(deltas[::100])
    t0 = time.perf_counter()
    svc.sync_policy()
    inc_s = time.perf_counter() - t0
    inc_rows = svc.last_sync_rows
    t0 = time.perf_counter()
    svc.sync_policy()
    idle_s = time.perf_counter() - t0
    idle_rows = svc.last_sync_rows

    async def auth_lat(keys: list[int]) -> list[float]:
        lat = []
        for i in keys:
            t = time.perf_counter()
            await svc.auth.authenticate(f"Bearer arb-k{i:011d}-{secrets[i]}", None)
            lat.append(time.perf_counter() - t)
        return lat

    rng = random.Random(0)
    sample = rng.sample(range(n_keys), 3_000 if quick else 20_000)
    cold = asyncio.run(auth_lat(sample))
    warm = asyncio.run(auth_lat(sample))
    stats = prompt_stats(PROMPT)
    t0 = time.perf_counter()
    for i in range(n_tenants):  # one routed decision per tenant: its router and arrays exist
        t = settings.tenants[f"t{i}"]
        svc.router_for(Principal(f"t{i}", quality_target=t.quality_target)).decide(
            RouteRequest(f"t{i}", "chat", 100, 200, frozenset(), 0.2, stats)
        )
    route_s = time.perf_counter() - t0
    gc.collect()
    rss = _rss_mb()
    svc.store.close()
    return {
        "rss_mb_10k_tenants": round(rss, 1),
        "rss_mb_before": round(rss0, 1),
        "config_parse_s": round(parse_s, 2),
        "auth_p99_ms_cold": round(_p(cold, 0.99) * 1e3, 3),
        "auth_p99_ms_warm": round(_p(warm, 0.99) * 1e3, 3),
        "sync_rows_full": full_rows,
        "sync_s_full": round(full_sync_s, 3),
        "sync_rows_1pct_changed": inc_rows,
        "sync_s_1pct_changed": round(inc_s, 4),
        "sync_rows_idle": idle_rows,
        "sync_s_idle": round(idle_s, 4),
        "route_one_per_tenant_s": round(route_s, 2),
        "routers": len(svc._routers),
    }


# -- history: bench/scale_history.py ---------------------------------------------------------
from bench.scale_history import bench_history  # noqa: E402
from bench.scale_history import worst_p95 as _worst_p95  # noqa: E402

# -- workers and tail: bench/scale_workers.py ----------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="bounded to a few minutes")
    ap.add_argument(
        "--only",
        default="decisions,tenants,history,workers,tail,replicas",
        help="comma-separated curves",
    )
    ap.add_argument("--rows", type=int, default=None, help="history rows (1M quick, 10M full)")
    ap.add_argument("--pg-url", default=os.environ.get("ARBITER_TEST_PG_URL"))
    ap.add_argument(
        "--tail-rates",
        default=os.environ.get("ARBITER_BENCH_TAIL_RATES"),
        help="tail: the 50%% and 80%% windows' rates (req/s, e.g. 840,1344[,753] with the "
        "open-loop-max window's), pinned for A/Bs at equal rates (env ARBITER_BENCH_TAIL_RATES)",
    )
    args = ap.parse_args()
    try:
        tail_rates = scale_workers.parse_tail_rates(args.tail_rates)
    except ValueError as err:
        ap.error(str(err))
    only = set(args.only.split(","))
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    result: dict[str, Any] = {
        "workers_rps": None, "replicas": None, "decision_us": None, "rss_mb_10k_tenants": None,
        "history_api_p95_ms_10m": None, "added_p99_ms_at_80pct": None, "max_stall_ms": None,
        "why": {"replicas": "not run (--only)"},
    }  # fmt: skip
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="arbiter-scale-") as tmp:
        work = Path(tmp)
        if "decisions" in only:
            d = bench_decisions(args.quick)
            details["decisions"] = d
            result["decision_us"] = d["decision_us"]
            print("decisions:", json.dumps(d), flush=True)
        if "tenants" in only:
            t = bench_tenants(args.quick, work)
            details["tenants"] = t
            result["rss_mb_10k_tenants"] = t["rss_mb_10k_tenants"]
            print("tenants:", json.dumps(t), flush=True)
        if "history" in only:
            h = bench_history(args.quick, rows, work, args.pg_url)
            details["history"] = h
            print("history:", json.dumps(h), flush=True)
            if rows >= 10_000_000:
                result["history_api_p95_ms_10m"] = _worst_p95(h)
            else:
                result["why"]["history_api_p95_ms_10m"] = f"ran {rows:,} rows (--quick)"
                result[f"history_api_p95_ms_{rows // 1_000_000}m"] = _worst_p95(h)
        if "workers" in only:
            w = scale_workers.bench_workers(args.quick, work)
            details["workers"] = w
            print("workers:", json.dumps(w), flush=True)
            if "why" in w:
                result["why"]["workers_rps"] = w["why"]
            else:
                result["workers_rps"] = w["workers_rps"]
        if "tail" in only:
            tl = scale_workers.bench_tail(args.quick, work, tail_rates)
            details["tail"] = tl
            print("tail:", json.dumps(tl), flush=True)
            for k in ("added_p99_ms_at_80pct", "max_stall_ms"):
                if k in tl:
                    result[k] = tl[k]
                else:
                    result["why"][k] = tl.get("why", "not measured")
            for k in ("added_p99_ms_at_50pct", "added_p99_ms_at_80pct_of_open_loop_max"):
                if k in tl:  # next to the keys, not instead of them
                    result[k] = tl[k]
        if "replicas" in only:
            from scale_replicas import bench_replicas

            rp = bench_replicas(args.quick, args.pg_url)
            details["replicas"] = rp
            print("replicas:", json.dumps(rp.get("replicas", rp)), flush=True)
            if "why" in rp:
                result["why"]["replicas"] = rp["why"]
            else:
                result["replicas"] = rp["replicas"]
                del result["why"]["replicas"]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
