"""bench/scale_replicas: 1, 2, 4 and 8 sidecars on one PostgreSQL under sustained load (issue 18).

Per replica count, in a fresh database on the server (--pg-url / ARBITER_TEST_PG_URL) and against
`arbiter sim` (the demo pool, latencies at 2% of real time):
  load      a closed loop of --concurrency requests in flight in total, spread round-robin over
            the replicas (`model: auto`: classified, routed, recorded), for --seconds: first a
            tenant without a cap (records only), then one under a spend cap it never reaches
            (every request also reserves and settles). Requests/s, and per 1,000 requests the
            database's commits and tuples written (pg_stat_database deltas, read after its
            backends' 10 s idle flush), connections (pg_stat_activity, peak), and CPU seconds of
            this database's backends (/proc), against the sidecars' and this load generator's.
  lag       while the uncapped load runs: a model's price patched through the admin API on
            replica 1 (registry override), a feedback on replica 1 (the tenant's arms), and a key
            revoked on replica 1; each other replica is polled until it applies the change.
  overshoot a tenant whose spend cap is worth ~20 requests, hammered with --burst requests through
            all replicas at once (64 in flight, pinned model): spend recorded beyond the cap, in
            units of one request's worst case (<= 1 is the promise).
On this VM the load generator, the sim, every sidecar and PostgreSQL share 2 cores: requests/s
falls as replicas are added and shows what each costs, not how they scale. Ends with one JSON line.
Usage: python bench/scale_replicas.py [--quick] [--counts 1,2,4,8] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "python"), str(REPO)]


from bench.store import arms_of, chat_body, start_all  # noqa: E402
from tests.conftest import ADMIN_KEY, Sidecar, start_sim  # noqa: E402
from tests.pg import fresh_database  # noqa: E402

from arbiter.offline.demo import DEMO_POOL, demo_settings, sim_settings  # noqa: E402
from arbiter.price import cost_usd  # noqa: E402
from arbiter.toml_text import to_toml  # noqa: E402

HEAVY, CAPPED, PROBE = "heavy", "capped", "probe"  # tenants: capped load, overshoot, lag probes
OVERSHOOT_MODEL, OVERSHOOT_MAX_TOKENS = "sim-premium", 200
OVERSHOOT_PROMPT = "Write a short poem about a lighthouse keeper."
PG_IDLE_FLUSH_S = 11.0  # PostgreSQL 15 flushes an idle backend's counters after 10 s
TICK = os.sysconf("SC_CLK_TCK")
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


# -- set-up -----------------------------------------------------------------------------------
def write_config(path: Path, sim_url: str, store_url: str, cap_usd: float) -> Path:
    """The demo sidecar (no LLM judge: nothing but the load writes) on `store_url`, with a cap
    on the overshoot tenant and one the capped load never reaches."""
    doc = demo_settings(sim_url, Path("unused.db"))
    del doc["routing"]["judge_model"]
    doc["store"] = {"url": store_url, "durability": "batched", "flush_interval_ms": 200,
                    "sync_interval_ms": 1000}  # fmt: skip
    doc["budgets"] = {"caps": [
        {"scope": "tenant", "name": CAPPED, "limit_usd": cap_usd, "window": "total"},
        {"scope": "tenant", "name": HEAVY, "limit_usd": 1e6, "window": "total"},
    ]}  # fmt: skip
    path.write_text(to_toml(doc))
    return path


def overshoot_body() -> dict[str, Any]:
    return {"model": OVERSHOOT_MODEL, "max_tokens": OVERSHOOT_MAX_TOKENS,
            "messages": [{"role": "user", "content": OVERSHOOT_PROMPT}]}  # fmt: skip


def one_request_costs(sim_url: str) -> tuple[float, float]:
    """(typical, worst case) of one overshoot request, from the sim's own token count: the worst
    case bills the whole output limit (the sidecar reserves at least this much: its prompt count
    adds message overhead, so the bound used here is the stricter one)."""
    r = httpx.post(f"{sim_url}/chat/completions", json=overshoot_body(),
                   headers={"authorization": "Bearer x"}, timeout=30)  # fmt: skip
    usage = r.raise_for_status().json()["usage"]
    pin, pout = DEMO_POOL[OVERSHOOT_MODEL][0], DEMO_POOL[OVERSHOOT_MODEL][1]
    typical = cost_usd(pin, pout, usage["prompt_tokens"], usage["completion_tokens"])
    return typical, cost_usd(pin, pout, usage["prompt_tokens"], OVERSHOOT_MAX_TOKENS)


# -- what PostgreSQL and the processes did ----------------------------------------------------
def _ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


def db_counters(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, "
            "tup_fetched, pg_database_size(datname) FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    names = ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_deleted",
             "tup_fetched", "db_bytes")  # fmt: skip
    return dict(zip(names, (int(v) for v in row), strict=True))


class Sampler:
    """Every 0.25 s: this database's backends (pg_stat_activity) and their CPU ticks, so the CPU
    of a backend that exits mid-run is kept; the peak connection count."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.peak_connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            me = conn.info.backend_pid
            while not self._stop.is_set():
                pids = [int(r[0]) for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()")]  # fmt: skip
                self.peak_connections = max(self.peak_connections, len(pids))
                for pid in pids:
                    t = _ticks(pid)
                    if t is not None and pid != me:
                        self.first.setdefault(pid, t)
                        self.last[pid] = t
                self._stop.wait(0.25)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def cpu_s(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last) / TICK


def proc_cpu_s(pids: Sequence[int]) -> float:
    return sum(t for t in (_ticks(p) for p in pids) if t is not None) / TICK


def self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


# -- load -------------------------------------------------------------------------------------
async def closed_loop(
    client: httpx.AsyncClient, urls: Sequence[str], key: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    """`concurrency` workers, worker i bound to replica i mod n, until the time is up."""
    lat: list[float] = []
    failed: list[str] = []
    deadline = time.monotonic() + seconds
    headers = {"authorization": f"Bearer {key}"}

    async def worker(url: str) -> None:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{url}/chat/completions", json=chat_body(), headers=headers)
            except httpx.HTTPError as err:
                failed.append(type(err).__name__)
                continue
            if r.status_code == 200:
                lat.append((time.perf_counter() - t0) * 1000)
            else:
                failed.append(f"{r.status_code} {r.text[:120]}")

    t0 = time.monotonic()
    await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(concurrency)))
    elapsed = time.monotonic() - t0
    lat.sort()
    return {
        "requests": len(lat), "failed": len(failed), "failures": sorted(set(failed))[:3],
        "rps": round(len(lat) / elapsed, 1), "elapsed_s": round(elapsed, 2),
        "p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
        "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1) if lat else None,
    }  # fmt: skip


async def _poll(check: Any, others: Sequence[Sidecar], limit_s: float) -> dict[int, float]:
    """Seconds until each other replica passes `check`, polled concurrently (absent: not within
    limit_s). An upper bound: it includes up to one poll's answer time under the load."""
    t0 = time.monotonic()

    async def one(s: Sidecar) -> tuple[int, float | None]:
        while time.monotonic() - t0 < limit_s:
            asked = time.monotonic()
            ok = await check(s)
            SLOWEST_POLL[0] = max(SLOWEST_POLL[0], time.monotonic() - asked)
            if ok:
                return s.port, time.monotonic() - t0
            await asyncio.sleep(0.02)
        return s.port, None

    done = await asyncio.gather(*(one(s) for s in others))
    return {port: t for port, t in done if t is not None}


SLOWEST_POLL = [0.0]  # the slowest answer to one poll: how much of a lag is the poll's own wait


async def sync_lag(
    client: httpx.AsyncClient, sidecars: Sequence[Sidecar], probe_key: str, limit_s: float = 15.0
) -> dict[str, Any]:
    """A change made through replica 1, and how long each other replica took to apply it."""
    first, others = sidecars[0], sidecars[1:]
    if not others:
        return {}
    out: dict[str, Any] = {}
    # 1. the registry: a model's price (an admin override, stored, adopted on each sync)
    price = round(0.1 + (time.time() % 1000) / 1e5, 6)
    r = await client.patch(f"{first.root_url}/arbiter/admin/models/sim-tiny",
                           json={"price_in_per_mtok": price}, headers=ADMIN)  # fmt: skip
    r.raise_for_status()

    async def priced(s: Sidecar) -> bool:
        data = (await client.get(f"{s.root_url}/arbiter/admin/models", headers=ADMIN)).json()
        return any(m["name"] == "sim-tiny" and m["price_in_per_mtok"] == price
                   for m in data["data"])  # fmt: skip

    out["registry"] = await _poll(priced, others, limit_s)
    # 2. the tenant's policy: one feedback on replica 1 moves an arm everywhere
    auth = {"authorization": f"Bearer {probe_key}"}
    r = await client.post(f"{first.base_url}/chat/completions", json=chat_body("sim-tiny"),
                          headers=auth)  # fmt: skip
    r.raise_for_status()
    task = r.headers["x-arbiter-task"]

    def n_of(rows: Any) -> float:
        return arms_of(rows, PROBE).get((task, "sim-tiny"), [0, 0, 0])[2]

    before = {s.port: n_of((await client.get(f"{s.root_url}/arbiter/policy", headers=ADMIN))
                           .json()["data"]) for s in others}  # fmt: skip
    fb = await client.post(f"{first.base_url}/feedback", headers=auth,
                           json={"decision_id": r.headers["x-arbiter-decision-id"],
                                 "thumbs": "up"})  # fmt: skip
    fb.raise_for_status()

    async def learned(s: Sidecar) -> bool:
        rows = (await client.get(f"{s.root_url}/arbiter/policy", headers=ADMIN)).json()["data"]
        return n_of(rows) >= before[s.port] + 1 - 1e-9

    out["policy"] = await _poll(learned, others, limit_s)
    # 3. a key revoked on replica 1 (each other replica had it cached)
    made = (await client.post(f"{first.root_url}/arbiter/admin/keys", headers=ADMIN,
                              json={"tenant": PROBE})).json()  # fmt: skip
    kh = {"authorization": f"Bearer {made['key']}"}
    for s in others:
        (await client.get(f"{s.base_url}/models", headers=kh)).raise_for_status()
    rv = await client.delete(f"{first.root_url}/arbiter/admin/keys/{made['id']}", headers=ADMIN)
    rv.raise_for_status()

    async def refused(s: Sidecar) -> bool:
        return (await client.get(f"{s.base_url}/models", headers=kh)).status_code == 401

    out["revocation"] = await _poll(refused, others, limit_s)
    n = len(others)
    slowest, SLOWEST_POLL[0] = SLOWEST_POLL[0], 0.0
    return {"slowest_poll_s": round(slowest, 3)} | {
        what: {"max_s": round(max(v.values()), 3) if len(v) == n else None,
               "median_s": round(statistics.median(v.values()), 3) if v else None,
               "applied": f"{len(v)}/{n}"}
        for what, v in out.items()
    }  # fmt: skip


async def overshoot(
    client: httpx.AsyncClient, sidecars: Sequence[Sidecar], key: str, n: int, concurrency: int
) -> dict[str, Any]:
    """n requests of the capped tenant, `concurrency` in flight, round-robin over the replicas."""
    body = overshoot_body()
    sent = 0
    codes: dict[str, int] = {}

    async def worker(i: int) -> None:
        nonlocal sent
        while sent < n:
            sent += 1
            url = sidecars[i % len(sidecars)].base_url
            r = await client.post(f"{url}/chat/completions", json=body,
                                  headers={"authorization": f"Bearer {key}"})  # fmt: skip
            code = str(r.status_code)
            if r.status_code != 200:
                code += " " + str(r.json().get("error", {}).get("code"))
            codes[code] = codes.get(code, 0) + 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    await asyncio.sleep(1.0)  # settles land
    usage = (await client.get(f"{sidecars[-1].root_url}/arbiter/budgets", headers=ADMIN)).json()
    row = next(u for u in usage["data"] if u["scope"] == f"tenant:{CAPPED}")
    return {"codes": codes, "spent_usd": row["spent_usd"], "reserved_usd": row["reserved_usd"]}


# -- one replica count ------------------------------------------------------------------------
def per_1k(delta: dict[str, int], requests: int) -> dict[str, float]:
    k = max(requests, 1) / 1000
    out = {f"{name}_per_1k": round(v / k, 1) for name, v in delta.items()
           if name not in ("tup_fetched", "db_bytes")}  # fmt: skip
    out["db_bytes_per_req"] = round(delta["db_bytes"] / max(requests, 1))
    out["tuples_written_per_1k"] = round(
        sum(delta[c] for c in ("tup_inserted", "tup_updated", "tup_deleted")) / k, 1
    )
    return out


async def _phase(
    url: str, client: httpx.AsyncClient, sidecars: Sequence[Sidecar], key: str,
    concurrency: int, seconds: float, probe_key: str | None,
) -> dict[str, Any]:  # fmt: skip
    pids = [s.proc.proc.pid for s in sidecars if s.proc.proc is not None]
    await asyncio.sleep(PG_IDLE_FLUSH_S)  # every backend's counters so far are flushed
    c0, side0, me0, t0 = db_counters(url), proc_cpu_s(pids), self_cpu_s(), time.monotonic()
    with Sampler(url) as sampler:
        load = asyncio.create_task(
            closed_loop(client, [s.base_url for s in sidecars], key, concurrency, seconds)
        )
        lag: dict[str, Any] = {}
        if probe_key is not None:
            await asyncio.sleep(min(3.0, seconds / 4))  # under load, not before it
            lag = await sync_lag(client, sidecars, probe_key)
        res = await load
        wall = time.monotonic() - t0
        side, me = proc_cpu_s(pids) - side0, self_cpu_s() - me0
        await asyncio.sleep(PG_IDLE_FLUSH_S)
    c1 = db_counters(url)
    res["window_s"] = round(time.monotonic() - t0, 2)
    delta = {k: c1[k] - c0[k] for k in c0}
    pg_cpu = sampler.cpu_s()
    res.update(per_1k(delta, res["requests"]))
    res.update({
        "pg_connections_peak": sampler.peak_connections,
        "pg_backend_cpu_ms_per_req": round(pg_cpu * 1000 / max(res["requests"], 1), 3),
        "pg_cores": round(pg_cpu / wall, 2),
        "sidecar_cores": round(side / wall, 2),
        "sidecar_cpu_ms_per_req": round(side * 1000 / max(res["requests"], 1), 3),
        "loadgen_cores": round(me / wall, 2),
    })  # fmt: skip
    if lag:
        res["sync_lag"] = lag
    return res


def run_count(
    n: int, pg_base: str, sim_url: str, work: Path, seconds: float, concurrency: int, burst: int
) -> dict[str, Any]:
    typical, worst = one_request_costs(sim_url)
    cap = round(20 * typical, 6)
    with fresh_database(pg_base) as url:
        sidecars = [Sidecar(write_config(work / f"r{n}-{i}.toml", sim_url, url, cap))
                    for i in range(n)]  # fmt: skip
        t0 = time.monotonic()
        start_all(sidecars)
        started_s = time.monotonic() - t0
        try:
            keys = {t: str(sidecars[0].create_key(t)["key"]) for t in ("load", HEAVY, CAPPED,
                                                                      PROBE)}  # fmt: skip

            async def go() -> dict[str, Any]:
                limits = httpx.Limits(max_connections=concurrency + 16,
                                      max_keepalive_connections=concurrency + 16)  # fmt: skip
                async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
                    # warm every replica (first decisions, connections) before measuring
                    await closed_loop(client, [s.base_url for s in sidecars], keys["load"],
                                      concurrency, 2.0)  # fmt: skip
                    await asyncio.sleep(PG_IDLE_FLUSH_S)
                    a, ta = db_counters(url), time.monotonic()
                    await asyncio.sleep(PG_IDLE_FLUSH_S)  # idle: sync loops only
                    b, idle_s = db_counters(url), time.monotonic() - ta
                    idle = {k: round((b[k] - a[k]) / idle_s / n, 2) for k in a}
                    records = await _phase(url, client, sidecars, keys["load"], concurrency,
                                           seconds, keys[PROBE])  # fmt: skip
                    capped = await _phase(url, client, sidecars, keys[HEAVY], concurrency,
                                          seconds, None)  # fmt: skip
                    over = await overshoot(client, sidecars, keys[CAPPED], burst, 64)
                    return {
                        "idle_per_replica_per_s": idle,
                        "records": records,
                        "capped": capped,
                        "overshoot": over,
                    }

            out = asyncio.run(go())
        finally:
            for s in sidecars:
                s.stop()
    o = out["overshoot"]
    over = max(o["spent_usd"] - cap, 0.0)
    o.update({"cap_usd": cap, "worst_case_request_usd": round(worst, 8),
              "overshoot_usd": round(over, 8),
              "overshoot_worst_cases": round(over / worst, 3)})  # fmt: skip
    for phase in ("records", "capped"):  # the requests' own commits: less the sync loops'
        r = out[phase]
        background = out["idle_per_replica_per_s"]["xact_commit"] * n * r["window_s"]
        r["commits_per_req_net"] = round(
            (r["xact_commit_per_1k"] * r["requests"] / 1000 - background) / max(r["requests"], 1),
            3,
        )
    out["start_s"] = round(started_s, 1)
    return out


def summary(r: dict[str, Any]) -> dict[str, Any]:
    """The figures of one count for the JSON line."""
    rec, cap, lag = r["records"], r["capped"], r["records"].get("sync_lag", {})
    return {
        "rps": rec["rps"], "rps_capped": cap["rps"],
        "commits_per_1k": rec["xact_commit_per_1k"],
        "commits_per_1k_capped": cap["xact_commit_per_1k"],
        "commits_per_req_net": rec["commits_per_req_net"],
        "commits_per_req_net_capped": cap["commits_per_req_net"],
        "tuples_written_per_1k": rec["tuples_written_per_1k"],
        "tuples_written_per_1k_capped": cap["tuples_written_per_1k"],
        "pg_connections": max(rec["pg_connections_peak"], cap["pg_connections_peak"]),
        "db_bytes_per_req": rec["db_bytes_per_req"],
        "pg_cpu_ms_per_req": rec["pg_backend_cpu_ms_per_req"],
        "pg_cpu_ms_per_req_capped": cap["pg_backend_cpu_ms_per_req"],
        "pg_cores": max(rec["pg_cores"], cap["pg_cores"]),
        "sync_lag_max_s": {k: v["max_s"] for k, v in lag.items() if isinstance(v, dict)} or None,
        "overshoot_worst_cases": r["overshoot"]["overshoot_worst_cases"],
    }  # fmt: skip


def bench_replicas(
    quick: bool, pg_base: str | None, counts: Sequence[int] = (1, 2, 4, 8),
    seconds: float | None = None, concurrency: int = 32, burst: int = 200,
) -> dict[str, Any]:  # fmt: skip
    if not pg_base:
        return {"why": "no PostgreSQL (set --pg-url or ARBITER_TEST_PG_URL)"}
    secs = seconds or (10.0 if quick else 30.0)
    out: dict[str, Any] = {"seconds_per_phase": secs, "concurrency": concurrency,
                           "loadavg_before": os.getloadavg()[0], "counts": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="arbiter-replicas-") as tmp, _sim(Path(tmp)) as sim:
        for n in counts:
            r = run_count(n, pg_base, sim, Path(tmp), secs, concurrency, burst)
            r["loadavg"] = os.getloadavg()[0]
            out["counts"][str(n)] = r
            print(f"replicas {n}:", r, flush=True)
    out["replicas"] = {k: summary(v) for k, v in out["counts"].items()}
    return out


@contextlib.contextmanager
def _sim(work: Path) -> Iterator[str]:
    """The demo pool at 0.1% of real latency (answers in ~1 ms): the sidecars and the store,
    not the upstream's pace, bound requests/s."""
    doc = sim_settings()
    doc["latency_scale"] = 0.001
    for m in doc["models"].values():
        m.update({"latency_ms": 0.5, "latency_jitter_ms": 0.0, "ms_per_chunk": 0.0})
    cfg = work / "sim.toml"
    cfg.write_text(to_toml(doc))
    proc, root = start_sim(cfg)
    url = f"{root}/v1"
    try:
        yield url
    finally:
        proc.stop()


def main() -> int:
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 s per load phase (else 30 s)")
    ap.add_argument("--counts", default="1,2,4,8")
    ap.add_argument("--seconds", type=float, default=None, help="per load phase")
    ap.add_argument("--concurrency", type=int, default=32, help="requests in flight, in total")
    ap.add_argument("--burst", type=int, default=200, help="requests of the overshoot burst")
    ap.add_argument("--pg-url", default=os.environ.get("ARBITER_TEST_PG_URL"))
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    res = bench_replicas(args.quick, args.pg_url, counts, args.seconds, args.concurrency,
                         args.burst)  # fmt: skip
    print(json.dumps({"replicas": res.get("replicas"), "why": res.get("why")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
