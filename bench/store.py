"""Store benchmark and durability scenarios: SQLite vs PostgreSQL behind live sidecars.

Measures decisions/s the recorder writes to each backend and the p99 latency the sidecar adds on
the request path with each; kills a sidecar with SIGKILL under load (batched and strict
durability) and counts acknowledged decisions missing from the store; stops a throwaway
PostgreSQL cluster for 10 s under load; streams with strict durability through the openai SDK
(which closes at [DONE]) and checks each decision is stored by then; runs three replicas on one
PostgreSQL and checks their merged policy equals the sum of the feedback each saw.
tests/e2e/test_{durability,shared_brain}.py run the same scenarios, smaller. Bounded: every
load has a request cap and a time limit. Ends with one JSON line.
Usage: python bench/store.py [--quick] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.cadence import Ticker, time_median  # noqa: E402
from tests.conftest import Sidecar, start_sim  # noqa: E402
from tests.pg import fresh_database, pg_url  # noqa: E402

from arbiter.inherited_socket import unheld_port  # noqa: E402
from arbiter.offline.demo import demo_settings, sim_config  # noqa: E402
from arbiter.recorder import Recorder  # noqa: E402
from arbiter.records import Attempt, Candidate, DecisionRecord  # noqa: E402
from arbiter.store import open_store  # noqa: E402
from arbiter.store._sql import load_migrations  # noqa: E402
from arbiter.toml_text import to_toml  # noqa: E402

PROMPT = "Write a haiku about autumn rain."  # "creative": no auto grader unless the answer is bad
PG_SCRIPT = REPO / "scripts" / "postgres.sh"
# a take's timestamp is read just after it (encode_rows, or the writer process's send): a
# record submitted between the two is in the next batch though acknowledged "before" the stamp
TAKE_SLACK_S = 0.05


# -- stack ----------------------------------------------------------------------------------
def write_config(
    path: Path,
    sim_url: str,
    store_url: str,
    *,
    durability: str = "batched",
    flush_interval_ms: int = 200,
    sync_interval_ms: int = 1000,
    store_extra: dict[str, Any] | None = None,
) -> Path:
    """The demo sidecar config on `store_url`, without the LLM judge (grades come only from the
    auto graders and client feedback, so every policy change is accounted for). `store_extra`:
    more [store] settings (e.g. the writer process: writer = "process")."""
    doc = demo_settings(sim_url, Path("unused.db"))
    del doc["routing"]["judge_model"]
    doc["store"] = {
        "url": store_url,
        "durability": durability,
        "flush_interval_ms": flush_interval_ms,
        "sync_interval_ms": sync_interval_ms,
        **(store_extra or {}),
    }
    path.write_text(to_toml(doc))
    return path


@contextlib.contextmanager
def sim_running(workdir: Path) -> Iterator[str]:
    cfg = workdir / "sim.toml"
    cfg.write_text(sim_config())
    proc, root = start_sim(cfg)
    url = f"{root}/v1"
    try:
        yield url
    finally:
        proc.stop()


def start_all(sidecars: Sequence[Sidecar]) -> None:
    """Start every sidecar at once (their start-up migrations race on purpose)."""
    with ThreadPoolExecutor(len(sidecars)) as pool:
        list(pool.map(lambda s: s.start(), sidecars))


def pid(sidecar: Sidecar) -> int:
    assert sidecar.proc.proc is not None
    return sidecar.proc.proc.pid


# -- load -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Load:
    acked: list[str] = field(default_factory=list)  # decision ids of answered requests
    acked_at: list[float] = field(default_factory=list)  # monotonic time of each answer
    failed: list[str] = field(default_factory=list)  # what went wrong, one entry per failure
    latencies_ms: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    elapsed_s: float = 0.0
    acked_goal: int = 0  # `goal_reached` is set once this many answers were acknowledged
    goal_reached: asyncio.Event = field(default_factory=asyncio.Event)


def chat_body(model: str = "auto") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64}


async def drive(
    url: str,
    key: str,
    *,
    max_requests: int,
    max_s: float,
    concurrency: int,
    model: str = "auto",
    stop: asyncio.Event | None = None,
    load: Load | None = None,
) -> Load:
    """POST chat requests with `concurrency` workers until a cap, the time limit, or `stop`;
    into `load` if given (a caller watching the answers come in), else a new one."""
    load = Load() if load is None else load
    deadline = load.started + max_s
    sent = 0
    headers = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:

        async def worker() -> None:
            nonlocal sent
            while sent < max_requests and time.monotonic() < deadline:
                if stop is not None and stop.is_set():
                    return
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post(
                        f"{url}/chat/completions", json=chat_body(model), headers=headers
                    )
                except httpx.HTTPError as err:
                    load.failed.append(type(err).__name__)
                    continue
                if r.status_code == 200:
                    load.acked.append(r.headers["x-arbiter-decision-id"])
                    load.acked_at.append(time.monotonic())
                    if len(load.acked) >= load.acked_goal:
                        load.goal_reached.set()
                    load.latencies_ms.append((time.perf_counter() - t0) * 1000)
                else:
                    load.failed.append(f"{r.status_code} {r.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    load.elapsed_s = time.monotonic() - load.started
    return load


async def drive_direct(sim_url: str, *, n: int, concurrency: int, model: str) -> list[float]:
    """Latencies of the same requests sent straight to the sim (the no-sidecar baseline)."""
    lat: list[float] = []
    left = n
    async with httpx.AsyncClient(timeout=30.0, headers={"authorization": "Bearer x"}) as c:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                t0 = time.perf_counter()
                r = await c.post(f"{sim_url}/chat/completions", json=chat_body(model))
                r.raise_for_status()
                lat.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat


def pctl(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def batch_takes(store_url: str) -> list[float]:
    """When the writer took each batch the store committed, oldest first: applied_batches.ts is
    the wall clock just after the take (encode_rows; a writer process gets the sender's), so
    this is the writer's cadence as the store saw it, on the host's clock the client reads too."""
    sql = "SELECT ts FROM applied_batches ORDER BY ts"
    if store_url.startswith("sqlite:"):
        conn = sqlite3.connect(Path(store_url.removeprefix("sqlite:///")))
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
    else:
        with psycopg.connect(store_url, connect_timeout=10) as pg:
            rows = pg.execute(sql).fetchall()
    return [float(r[0]) for r in rows]


def stored_ids(store_url: str, since: float = 0.0) -> set[str]:
    store = open_store(store_url)
    try:
        return {d["id"] for d in store.iter_decisions(since=since)}
    finally:
        store.close()


# -- integrity ------------------------------------------------------------------------------
_CONSISTENCY = (
    # every decision is in exactly one rollup minute (written in the same transaction)
    (
        "rollup_requests",
        "SELECT COALESCE(SUM(requests), 0) FROM rollups",
        "SELECT COUNT(*) FROM decisions",
    ),
    # every graded decision (or orphan grade) is counted once in `graded`
    (
        "rollup_graded",
        "SELECT COALESCE(SUM(graded), 0) FROM rollups",
        "SELECT COUNT(DISTINCT decision_id) FROM grades",
    ),
)


def _consistency(cur: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, left, right in _CONSISTENCY:
        a = cur.execute(left).fetchone()[0]
        b = cur.execute(right).fetchone()[0]
        out[name] = {"ok": int(a) == int(b), "left": int(a), "right": int(b)}
    # the applied schema versions are exactly the migration files' (numbers may have gaps:
    # parallel branches are given disjoint numbers)
    applied = [int(r[0]) for r in cur.execute("SELECT version FROM schema_version").fetchall()]
    known = [v for v, _ in load_migrations("sqlite")]
    out["schema_versions"] = {"ok": sorted(applied) == known, "left": len(applied),
                              "right": len(known)}  # fmt: skip
    return out


def sqlite_integrity(path: Path) -> dict[str, Any]:
    """`PRAGMA integrity_check` + the cross-table consistency queries, on a crashed file."""
    conn = sqlite3.connect(path)
    try:
        check = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        out = {"integrity_check": check[0] if check == ["ok"] else check}
        out.update(_consistency(conn))
        return out
    finally:
        conn.close()


def pg_integrity(url: str) -> dict[str, Any]:
    """amcheck's `bt_index_check` on every btree index of the schema (structure of each index
    and that it agrees with its heap: heapallindexed) + the cross-table consistency queries."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        rows = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE am.amname = 'btree' AND n.nspname = 'public'"
        ).fetchall()
        for (index,) in rows:
            conn.execute("SELECT bt_index_check(%s::regclass, true)", (index,))
        out: dict[str, Any] = {"amcheck_indexes_ok": len(rows)}
        out.update(_consistency(conn))
        return out


def consistent(report: dict[str, Any]) -> bool:
    return (
        all(v["ok"] for v in report.values() if isinstance(v, dict))
        and report.get("integrity_check", "ok") == "ok"
    )


# -- scenarios ------------------------------------------------------------------------------
def crash_run(
    sim_url: str,
    store_url: str,
    workdir: Path,
    *,
    durability: str,
    kill_after_s: float = 2.0,
    concurrency: int = 16,
    flush_interval_ms: int = 200,
    seed: int = 1,
    min_acked: int = 0,
    acked_within_s: float = 60.0,
    store_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Load a sidecar, SIGKILL it at a random moment, restart it, count acknowledged decisions
    missing from the store and check the store's integrity. The kill waits, beyond its random
    moment, until `min_acked` answers were acknowledged (at most `acked_within_s` more): on a
    loaded host the load reaches the scale the result is judged at, later, not never."""
    cfg = write_config(
        workdir / f"crash-{durability}.toml",
        sim_url,
        store_url,
        durability=durability,
        flush_interval_ms=flush_interval_ms,
        store_extra=store_extra,
    )
    sidecar = Sidecar(cfg).start()
    key = str(sidecar.create_key("crash")["key"])
    kill_at = kill_after_s * random.Random(seed).uniform(0.75, 1.25)

    ticker = Ticker(flush_interval_ms / 1000)  # the writer's control, over the same load

    async def scenario() -> tuple[Load, float, float]:
        stop = asyncio.Event()
        live = Load(acked_goal=min_acked)
        task = asyncio.ensure_future(
            drive(
                sidecar.base_url,
                key,
                max_requests=100_000,
                max_s=kill_at + acked_within_s + 5,
                concurrency=concurrency,
                stop=stop,
                load=live,
            )
        )
        with ticker:
            await asyncio.sleep(kill_at)
            if min_acked > 0:
                goal = asyncio.ensure_future(live.goal_reached.wait())
                await asyncio.wait(
                    {goal, task}, timeout=acked_within_s, return_when="FIRST_COMPLETED"
                )
                goal.cancel()
        os.kill(pid(sidecar), signal.SIGKILL)
        killed = time.monotonic()
        wall_offset = time.time() - killed  # the acks' monotonic times on the store's clock
        stop.set()
        return await task, killed, wall_offset

    try:
        load, killed_at, wall_offset = asyncio.run(scenario())
        assert sidecar.proc.proc is not None
        sidecar.proc.proc.wait(timeout=10)
        integrity = (
            sqlite_integrity(Path(store_url.removeprefix("sqlite:///")))
            if store_url.startswith("sqlite:")
            else pg_integrity(store_url)
        )
        sidecar.start()  # restart on the same store: it must come up and serve
        r = httpx.post(
            f"{sidecar.base_url}/chat/completions",
            json=chat_body(),
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
        restarted_ok = r.status_code == 200
    finally:
        sidecar.stop()
    stored = stored_ids(store_url)
    lost = [i for i in load.acked if i not in stored]
    window_s = killed_at - load.started
    # the rate just before the kill (the start of a run is slower: connections, warm-up)
    rate = sum(1 for t in load.acked_at if t > killed_at - 1.0) / min(1.0, window_s)
    # the writer's takes during the load (not the restart's), on the wall clock
    killed_wall, started_wall = killed_at + wall_offset, load.started + wall_offset
    takes = [t for t in batch_takes(store_url) if started_wall <= t <= killed_wall]
    last_take = takes[-1] if takes else started_wall
    gaps = [b - a for a, b in itertools.pairwise(takes)]
    acked_wall = dict(zip(load.acked, (t + wall_offset for t in load.acked_at), strict=True))
    return {
        "backend": "sqlite" if store_url.startswith("sqlite:") else "postgres",
        "durability": durability,
        "acked": len(load.acked),
        "lost": len(lost),
        "rate_per_s": round(rate, 1),
        "loss_bound": 0 if durability == "strict" else math.ceil(rate * flush_interval_ms / 1000),
        # what the writer did, read back from the store: how long before the kill it took its
        # last committed batch (what was acknowledged since was at risk); the gap between two
        # takes that the median moment of the load fell in (the kill is a random moment), and
        # the same for a thread that only sleeps the interval (the control); the lost
        # decisions acknowledged before that last take (a record acknowledged is submitted: one
        # acknowledged TAKE_SLACK_S before the take's stamp was in it or an earlier batch, so
        # it is lost only if a batch the store says it committed was not)
        "last_take_age_s": round(killed_wall - last_take, 3),
        "take_gap_median_s": round(time_median(gaps), 3) if gaps else None,
        "ticker_gap_median_s": round(time_median(ticker.gaps()), 3),
        "lost_before_last_take": sum(1 for i in lost if acked_wall[i] < last_take - TAKE_SLACK_S),
        "killed_after_s": round(window_s, 3),
        "failed_requests": len(load.failed),  # in flight at the kill: never acknowledged
        "restarted_ok": restarted_ok,
        "integrity": integrity,
        "integrity_ok": consistent(integrity),
    }


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[tuple[Path, int, str]]:
    """A private PostgreSQL cluster (never the shared test one): (dir, port, url)."""
    pgdir = Path(tempfile.mkdtemp(prefix="arbiter-pg-outage-"))
    pgdir.chmod(0o755)  # the server runs as `postgres` when we are root
    port = unheld_port()  # PostgreSQL binds it itself: it can only be given a number
    env = {**os.environ, "ARBITER_PG_PORT": str(port)}
    try:
        out = subprocess.run(
            [str(PG_SCRIPT), "start", str(pgdir)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=180,
        )
        yield pgdir, port, out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            [str(PG_SCRIPT), "stop", str(pgdir)],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(pgdir, ignore_errors=True)


def _pg_ctl(action: str, pgdir: Path, port: int) -> None:
    env = {**os.environ, "ARBITER_PG_PORT": str(port)}
    subprocess.run(
        [str(PG_SCRIPT), action, str(pgdir)], env=env, check=True, capture_output=True, timeout=180
    )


def outage_run(
    sim_url: str, workdir: Path, *, down_s: float = 10.0, concurrency: int = 8, lead_s: float = 2.0
) -> dict[str, Any]:
    """Stop a private PostgreSQL for `down_s` under load: count failed requests, then check every
    acknowledged decision reached the store once it was back, and that an alert said so."""
    with throwaway_cluster() as (pgdir, port, url):
        sidecar = Sidecar(write_config(workdir / "outage.toml", sim_url, url)).start()
        try:
            key = str(sidecar.create_key("outage")["key"])
            headers = {"authorization": f"Bearer {key}"}
            for _ in range(3):  # warm the key cache (served stale while the store is down)
                httpx.post(
                    f"{sidecar.base_url}/chat/completions",
                    json=chat_body(),
                    headers=headers,
                    timeout=30,
                ).raise_for_status()
            timeline: dict[str, float] = {}

            async def scenario() -> Load:
                task = asyncio.ensure_future(
                    drive(
                        sidecar.base_url,
                        key,
                        max_requests=50_000,
                        max_s=lead_s + down_s + 3.0,
                        concurrency=concurrency,
                    )
                )
                await asyncio.sleep(lead_s)
                await asyncio.to_thread(_pg_ctl, "stop", pgdir, port)
                timeline["down"] = time.monotonic()
                await asyncio.sleep(down_s)
                await asyncio.to_thread(_pg_ctl, "start", pgdir, port)
                timeline["up"] = time.monotonic()
                return await task

            load = asyncio.run(scenario())
            during = load.latencies_ms  # client-side, every answered request (outage included)
            drained = _wait_drained(sidecar, 30.0)
            stats = sidecar.admin("GET", "/arbiter/stats").json()["store"]
            alerts = sidecar.admin("GET", "/arbiter/alerts").json()["data"]
        finally:
            sidecar.stop()
        stored = stored_ids(url)
    return {
        "requests": len(load.acked) + len(load.failed),
        "failed_requests": len(load.failed),
        "failures": sorted(set(load.failed))[:5],
        "acked": len(load.acked),
        "missing_after_recovery": sum(1 for i in load.acked if i not in stored),
        "stored_rows": len(stored),
        "store_down_s": round(timeline["up"] - timeline["down"], 2),
        "backlog_drained_s": drained,
        "dropped": stats["dropped"],
        "backlog_alert": any(a["kind"] == "store_backlog" for a in alerts),
        "p50_ms": round(pctl(during, 0.5), 1),
        "p99_ms": round(pctl(during, 0.99), 1),
        "max_ms": round(max(during, default=math.nan), 1),
    }


def strict_stream_run(
    sim_url: str,
    store_url: str,
    workdir: Path,
    *,
    n: int = 60,
    concurrency: int = 8,
    store_away: bool = False,
    store_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Strict durability with streamed answers and a client that closes at `[DONE]` (the
    `openai` SDK does): each decision must be in the store when its client sees `[DONE]`.

    `store_away`: the decisions table is renamed away while the streams run (every commit
    fails), then back: no stream may then end with `[DONE]`, only with an error event."""
    import openai  # the client whose behaviour at [DONE] is the point of the scenario

    cfg = write_config(workdir / "strict-stream.toml", sim_url, store_url, durability="strict",
                       store_extra=store_extra)  # fmt: skip
    sidecar = Sidecar(cfg).start()
    try:
        key = str(sidecar.create_key("strict-stream")["key"])
        if store_away:
            _rename_decisions(store_url, "decisions", "decisions_away")
        clean: list[str] = []  # decision ids of streams that ended with [DONE]
        errors: list[str] = []  # streams that ended with an error event (or any other failure)
        stored_at_done = 0
        left = n

        def worker() -> None:
            nonlocal left, stored_at_done
            oai = openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0, timeout=30)
            store = None if store_away else open_store(store_url)
            try:
                while left > 0:
                    left -= 1
                    try:
                        raw = oai.chat.completions.with_raw_response.create(
                            model="auto",
                            messages=[{"role": "user", "content": PROMPT}],
                            max_tokens=64,
                            stream=True,
                        )
                        for _ in raw.parse():  # the SDK stops reading and closes at [DONE]
                            pass
                    except openai.APIError as err:
                        errors.append(type(err).__name__)
                        continue
                    ident = raw.headers["x-arbiter-decision-id"]
                    clean.append(ident)
                    if store is not None and store.decision(ident) is not None:
                        stored_at_done += 1
            finally:
                oai.close()
                if store is not None:
                    store.close()

        t0 = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            for f in [pool.submit(worker) for _ in range(concurrency)]:
                f.result()
        elapsed = time.monotonic() - t0
        if store_away:
            _rename_decisions(store_url, "decisions_away", "decisions")
    finally:
        sidecar.stop()
    stored = stored_ids(store_url)
    completed = len(clean)
    return {
        "backend": "sqlite" if store_url.startswith("sqlite:") else "postgres",
        "store_away": store_away,
        "streams": n,
        "streams_completed": completed,  # ended with [DONE]
        "error_events": len(errors),
        "stored_at_done": stored_at_done,  # in the store the moment the client saw [DONE]
        "decisions_stored": sum(1 for i in clean if i in stored),
        "stored_pct": round(100.0 * sum(1 for i in clean if i in stored) / completed, 2)
        if completed
        else None,
        "streams_per_s": round(n / elapsed, 1),
    }


def strict_streams(sim_url: str, base: str, work: Path, *, quick: bool) -> dict[str, Any]:
    """strict_stream_run on each backend (healthy, then with the decisions table away); prints
    one line per run and returns them with the totals."""
    runs = []
    for name in ("sqlite", "postgres"):
        for away in (False, True):
            with _store(name, base, work) as url:
                n = (12 if quick else 40) if away else (100 if quick else 400)
                r = strict_stream_run(sim_url, url, work, n=n, concurrency=8, store_away=away)
            runs.append(r)
            print(
                f"{name:8} strict streams{' (store away)' if away else ''}: "
                f"{r['streams_completed']} of {r['streams']} ended with [DONE], "
                f"{r['error_events']} with an error event; stored at [DONE] "
                f"{r['stored_at_done']}, stored {r['decisions_stored']} ({r['stored_pct']}%)"
            )
    healthy = [r for r in runs if not r["store_away"]]
    return {
        "runs": runs,
        "streams_completed": sum(r["streams_completed"] for r in healthy),
        "decisions_stored": sum(r["decisions_stored"] for r in healthy),
        "stored_at_done": sum(r["stored_at_done"] for r in healthy),
        "done_while_store_away": sum(r["streams_completed"] for r in runs if r["store_away"]),
    }


def _rename_decisions(store_url: str, old: str, new: str) -> None:
    """Make every decision write fail (or work again) without stopping the store."""
    stmt = f"ALTER TABLE {old} RENAME TO {new}"
    if store_url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as conn:
            conn.execute(stmt)
            conn.commit()
    else:
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute(stmt)  # type: ignore[arg-type]


def caps_outage_run(
    sim_url: str, workdir: Path, *, down_s: float = 8.0, concurrency: int = 8, lead_s: float = 2.0
) -> dict[str, Any]:
    """Budgets through a store outage: stop a private PostgreSQL for `down_s` under load with a
    global and a tenant cap configured. Counts failed requests and the slowest answer during the
    outage (no request may wait out a pool timeout once the store is known down), asks once with
    a key this replica never saw (a fast 503), and checks after recovery that every settle was
    written: the store's spend equals the sum of the decisions' costs and nothing stays reserved."""
    with throwaway_cluster() as (pgdir, port, url):
        cfg = write_config(workdir / "caps-outage.toml", sim_url, url)
        caps = (
            '\n[budgets]\noutage_allowance = 0.05\n[[budgets.caps]]\nscope = "global"\n'
            'limit_usd = 100.0\nwindow = "total"\n[[budgets.caps]]\nscope = "tenant"\n'
            'limit_usd = 50.0\nwindow = "day"\n'
        )
        cfg.write_text(cfg.read_text() + caps)
        sidecar = Sidecar(cfg).start()
        try:
            key = str(sidecar.create_key("capped")["key"])
            unseen = str(sidecar.create_key("capped")["key"])
            headers = {"authorization": f"Bearer {key}"}
            for _ in range(3):  # warm the key cache
                httpx.post(
                    f"{sidecar.base_url}/chat/completions", json=chat_body(), headers=headers,
                    timeout=30,
                ).raise_for_status()  # fmt: skip
            probe: dict[str, Any] = {}

            async def scenario() -> Load:
                task = asyncio.ensure_future(
                    drive(sidecar.base_url, key, max_requests=50_000,
                          max_s=lead_s + down_s + 3.0, concurrency=concurrency)
                )  # fmt: skip
                await asyncio.sleep(lead_s)
                await asyncio.to_thread(_pg_ctl, "stop", pgdir, port)
                await asyncio.sleep(2.0)  # let the sidecar notice
                t0 = time.perf_counter()
                async with httpx.AsyncClient(timeout=30) as c:
                    r = await c.post(
                        f"{sidecar.base_url}/chat/completions", json=chat_body(),
                        headers={"authorization": f"Bearer {unseen}"},
                    )  # fmt: skip
                probe.update(status=r.status_code, ms=round((time.perf_counter() - t0) * 1000, 1))
                await asyncio.sleep(max(down_s - 2.0, 0.0))
                await asyncio.to_thread(_pg_ctl, "start", pgdir, port)
                return await task

            load = asyncio.run(scenario())
            _wait_drained(sidecar, 30.0)
            time.sleep(6.0)  # the settle retry loop backs off up to 5 s
            budgets = sidecar.admin("GET", "/arbiter/budgets").json()["data"]
        finally:
            sidecar.stop()
        with psycopg.connect(url) as conn:
            decided = conn.execute("SELECT coalesce(sum(cost_usd), 0) FROM decisions").fetchone()
    spent = next(b["spent_usd"] for b in budgets if b["scope"] == "global")
    reserved = sum(b["reserved_usd"] for b in budgets)
    decided_usd = float(decided[0]) if decided else 0.0
    return {
        "requests": len(load.acked) + len(load.failed),
        "failed_requests": len(load.failed),
        "failures": sorted(set(load.failed))[:5],
        "max_ms": round(max(load.latencies_ms, default=math.nan), 1),
        "p99_ms": round(pctl(load.latencies_ms, 0.99), 1),
        "unseen_key_status": probe.get("status"),
        "unseen_key_ms": probe.get("ms"),
        "spent_usd": round(spent, 8),
        "decisions_cost_usd": round(decided_usd, 8),
        "spend_reconciled": abs(spent - decided_usd) <= 1e-9 + 1e-6 * decided_usd,
        "reserved_after_usd": round(reserved, 10),
    }


def _wait_drained(sidecar: Sidecar, limit_s: float) -> float | None:
    """Seconds until the sidecar reports an empty backlog and a healthy store (None: never)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        try:
            health = httpx.get(f"{sidecar.root_url}/healthz", timeout=5).json()
            m = sidecar.admin("GET", "/metrics", timeout=5).text
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if health["store_healthy"] and "\narbiter_store_backlog 0\n" in m:
            return round(time.monotonic() - t0, 2)
        time.sleep(0.2)
    return None


def recorder_rate(store_url: str, n: int = 20_000) -> float:
    """Decisions/s the recorder writes to the store (in-process, batched as in the sidecar)."""
    store = open_store(store_url)
    store.migrate()
    rec = Recorder(store, flush_interval_s=0.2)
    rec.start()
    now = time.time()
    records = [_decision(uuid.uuid4().hex, now + i * 1e-4) for i in range(n)]
    t0 = time.perf_counter()
    for r in records:
        rec.submit(r)
    ok = rec.flush(120.0)
    elapsed = time.perf_counter() - t0
    rec.stop()
    store.close()
    return round(n / elapsed, 1) if ok else 0.0


def _decision(ident: str, ts: float) -> DecisionRecord:
    return DecisionRecord(
        id=ident,
        ts=ts,
        tenant="bench",
        task="chat",
        mode="routed",
        chosen_model="sim-small",
        reason="bench",
        candidates=(Candidate("sim-small", 0.8, 0.8, 1e-5),),
        attempts=(Attempt("sim-small", True, 12.0),),
        status="ok",
        cost_usd=1e-5,
        baseline_model="sim-premium",
        baseline_cost_usd=1e-3,
        latency_ms=14.0,
        prompt_tokens=12,
        completion_tokens=40,
    )


def path_latency(
    sim_url: str, store_url: str, workdir: Path, *, n: int, concurrency: int
) -> dict[str, Any]:
    """p50/p99 through a sidecar (pass-through to one model, so the upstream mix is fixed) minus
    the same requests straight to the sim, and end-to-end decisions/s."""
    name = "sqlite" if store_url.startswith("sqlite:") else "postgres"
    sidecar = Sidecar(write_config(workdir / f"lat-{name}.toml", sim_url, store_url)).start()
    try:
        key = str(sidecar.create_key("bench")["key"])
        warm = drive(
            sidecar.base_url, key, max_requests=50, max_s=30, concurrency=4, model="sim-small"
        )
        asyncio.run(warm)
        direct = asyncio.run(drive_direct(sim_url, n=n, concurrency=concurrency, model="sim-small"))
        load = asyncio.run(
            drive(
                sidecar.base_url,
                key,
                max_requests=n,
                max_s=120,
                concurrency=concurrency,
                model="sim-small",
            )
        )
    finally:
        sidecar.stop()
    return {
        "http_decisions_per_s": round(len(load.acked) / load.elapsed_s, 1),
        "failed": len(load.failed),
        "p50_added_ms": round(pctl(load.latencies_ms, 0.5) - pctl(direct, 0.5), 2),
        "p99_added_ms": round(pctl(load.latencies_ms, 0.99) - pctl(direct, 0.99), 2),
        "p99_sidecar_ms": round(pctl(load.latencies_ms, 0.99), 2),
        "p99_direct_ms": round(pctl(direct, 0.99), 2),
    }


# -- shared brain ---------------------------------------------------------------------------
SCORES = (1.0, 0.0, 0.25, 0.75, 0.5)  # exact in binary, so sums compare exactly


def feedback_round(
    sidecars: Sequence[Sidecar], key: str, counts: Sequence[int], model: str = "auto"
) -> dict[tuple[str, str], list[float]]:
    """counts[i] requests through sidecar i, each followed by feedback to the SAME sidecar.
    Returns the expected evidence per (task, model): [alpha, beta, n]."""
    expected: dict[tuple[str, str], list[float]] = {}
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(timeout=30, headers=headers) as c:
        for s, count in zip(sidecars, counts, strict=True):
            for i in range(count):
                r = c.post(f"{s.base_url}/chat/completions", json=chat_body(model))
                r.raise_for_status()
                score = SCORES[i % len(SCORES)]
                f = c.post(
                    f"{s.base_url}/feedback",
                    json={"decision_id": r.headers["x-arbiter-decision-id"], "score": score},
                )
                f.raise_for_status()
                arm = expected.setdefault(
                    (r.headers["x-arbiter-task"], r.headers["x-arbiter-model"]), [0.0, 0.0, 0.0]
                )
                arm[0] += score
                arm[1] += 1 - score
                arm[2] += 1
    return expected


def arms_of(rows: Sequence[Any], tenant: str) -> dict[tuple[str, str], list[float]]:
    """{(task, model): [alpha, beta, n]} of one tenant from ArmStats or /arbiter/policy rows."""
    out: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        row: dict[str, Any] = r if isinstance(r, dict) else dataclasses.asdict(r)
        if row["tenant"] == tenant:
            out[(row["task"], row["model"])] = [row["alpha"], row["beta"], row["n"]]
    return out


def same_arms(
    a: dict[tuple[str, str], list[float]], b: dict[tuple[str, str], list[float]], tol: float = 1e-6
) -> bool:
    keys = set(a) | set(b)
    zero = [0.0, 0.0, 0.0]
    return all(
        math.isclose(x, y, abs_tol=tol)
        for k in keys
        for x, y in zip(a.get(k, zero), b.get(k, zero), strict=True)
    )


def replica_arms(sidecar: Sidecar, tenant: str) -> dict[tuple[str, str], list[float]]:
    return arms_of(sidecar.admin("GET", "/arbiter/policy").json()["data"], tenant)


def converge_run(
    sim_url: str,
    store_url: str,
    workdir: Path,
    *,
    counts: Sequence[int],
    sync_interval_ms: int = 1000,
) -> dict[str, Any]:
    """Three replicas on one PostgreSQL; known feedback through each; the store's arms and every
    replica's policy must equal the exact sums."""
    sidecars = [
        Sidecar(
            write_config(
                workdir / f"replica{i}.toml", sim_url, store_url, sync_interval_ms=sync_interval_ms
            )
        )
        for i in range(3)
    ]
    start_all(sidecars)
    try:
        key = str(sidecars[0].create_key("brain")["key"])
        expected = feedback_round(sidecars, key, counts)
        t0 = time.monotonic()
        converged_s = None
        while time.monotonic() - t0 < 3 * sync_interval_ms / 1000 + 5:
            if all(same_arms(replica_arms(s, "brain"), expected) for s in sidecars):
                converged_s = round(time.monotonic() - t0, 2)
                break
            time.sleep(0.1)
        store = open_store(store_url)
        try:
            in_store = arms_of(store.load_arms("brain"), "brain")
        finally:
            store.close()
    finally:
        for s in sidecars:
            s.stop()
    return {
        "replicas": 3,
        "feedback": list(counts),
        "converged_after_s": converged_s,
        "store_equals_sum": same_arms(in_store, expected),
        "replicas_converged": converged_s is not None and same_arms(in_store, expected),
    }


# -- main -----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller loads (about 1 minute)")
    p.add_argument("--pg-url", default=None, help="a PostgreSQL server (default: tests/pg.py)")
    args = p.parse_args(argv)
    base = args.pg_url or pg_url()
    if base is None:
        print(
            "no PostgreSQL server: set ARBITER_TEST_PG_URL or install postgresql", file=sys.stderr
        )
        return 2
    n, conc = (400, 8) if args.quick else (2000, 16)
    result: dict[str, Any] = {"backend_results": {}, "crash": []}
    with tempfile.TemporaryDirectory(prefix="arbiter-bench-store-") as tmp:
        work = Path(tmp)
        with sim_running(work) as sim_url:
            runs: dict[str, list[dict[str, Any]]] = {"sqlite": [], "postgres": []}
            for _ in range(1 if args.quick else 3):  # interleaved, so drift hits both alike
                for name in runs:
                    with _store(name, base, work) as url:
                        runs[name].append(path_latency(sim_url, url, work, n=n, concurrency=conc))
            for name, lats in runs.items():
                with _store(name, base, work) as url:
                    rate = recorder_rate(url, 5000 if args.quick else 20_000)
                summary = _median_of(lats)
                result["backend_results"][name] = {"decisions_per_s": rate, **summary}
                print(
                    f"{name:8} recorder {rate:9.1f} decisions/s | through the sidecar "
                    f"{summary['http_decisions_per_s']:7.1f}/s, p99 added "
                    f"{summary['p99_added_ms']} ms (runs {summary['p99_added_ms_runs']}), "
                    f"p50 added {summary['p50_added_ms']} ms"
                )
            for name in ("sqlite", "postgres"):
                for durability in ("strict", "batched"):
                    with _store(name, base, work) as url:
                        c = crash_run(sim_url, url, work, durability=durability, concurrency=conc)
                    result["crash"].append(c)
                    print(
                        f"{name:8} kill -9 ({durability:7}): {c['acked']} acked at "
                        f"{c['rate_per_s']}/s, lost {c['lost']} (bound {c['loss_bound']}), "
                        f"integrity ok={c['integrity_ok']}, restarted ok={c['restarted_ok']}"
                    )
            outage = outage_run(sim_url, work, concurrency=conc)
            print(
                f"outage   postgres down {outage['store_down_s']} s under load: "
                f"{outage['failed_requests']} of {outage['requests']} requests failed, "
                f"{outage['missing_after_recovery']} acked decisions missing after recovery, "
                f"backlog drained {outage['backlog_drained_s']} s after restart, "
                f"p99 {outage['p99_ms']} ms, alert={outage['backlog_alert']}"
            )
            strict = strict_streams(sim_url, base, work, quick=args.quick)
            caps_outage = caps_outage_run(sim_url, work, concurrency=conc)
            print(
                f"caps     postgres down under load with caps: {caps_outage['failed_requests']} "
                f"of {caps_outage['requests']} requests failed, "
                f"slowest {caps_outage['max_ms']} ms, "
                f"unseen key {caps_outage['unseen_key_status']} in "
                f"{caps_outage['unseen_key_ms']} ms, spend reconciled "
                f"{caps_outage['spend_reconciled']} (${caps_outage['spent_usd']} vs decisions "
                f"${caps_outage['decisions_cost_usd']}), reserved after "
                f"${caps_outage['reserved_after_usd']}"
            )
            with fresh_database(base) as url:
                brain = converge_run(sim_url, url, work, counts=(12, 9, 7))
            print(
                f"brain    3 replicas, feedback {brain['feedback']}: converged after "
                f"{brain['converged_after_s']} s, store equals sum: {brain['store_equals_sum']}"
            )
    crash = result["crash"]
    result.update(
        lost_strict=sum(c["lost"] for c in crash if c["durability"] == "strict"),
        lost_default=sum(c["lost"] for c in crash if c["durability"] == "batched"),
        loss_bound=sum(c["loss_bound"] for c in crash if c["durability"] == "batched"),
        failed_requests_during_outage=outage["failed_requests"],
        replicas_converged=brain["replicas_converged"],
        strict_streams=strict,
        outage=outage,
        caps_outage=caps_outage,
        brain=brain,
    )
    print(orjson.dumps(result).decode())
    return 0


def _median_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median over repeated runs; the p99 of every run kept to show the spread."""
    out: dict[str, Any] = {}
    for k in runs[0]:
        values = sorted(r[k] for r in runs)
        out[k] = values[len(values) // 2]
    out["p99_added_ms_runs"] = [r["p99_added_ms"] for r in runs]
    return out


@contextlib.contextmanager
def _store(name: str, base: str, work: Path) -> Iterator[str]:
    if name == "postgres":
        with fresh_database(base) as url:
            yield url
    else:
        yield f"sqlite:///{work / f'{uuid.uuid4().hex[:8]}.db'}"


if __name__ == "__main__":
    raise SystemExit(main())
