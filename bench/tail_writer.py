"""How late the event loop runs next to a busy recorder: writer thread vs writer process.

One process, pinned to one core (its writer child inherits the pin): an asyncio loop plays a
sidecar at a fixed request rate, each "request" a short burst of CPU on the loop (`--work-us`)
that submits one decision, one auto grade and one learning delta to a real Recorder writing to a
SQLite file; the recorder's writer is a thread (store.writer = "thread") or a child process
("process"), or there is none ("none": records dropped, the floor); "-paced": the same writer
in transactions of recorder.PACE_CHUNK records with rests between (store.writer_pace); "-idle":
store.writer_priority = "idle" (the thread at SCHED_IDLE; for "process-idle", the child).
Requests are scheduled open-loop; a request's lateness = when its burst started minus when it
was due (the wait for the GIL or the core). Arms alternate (none, thread, process, ...) so
drift on a shared host hits them alike. CPU: the process's own and the writer child's, per request.
Usage: python bench/tail_writer.py [--rate 1500] [--seconds 15] [--rounds 2] [--core 0]
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

from arbiter.recorder import PACE_CHUNK, PACE_REST_RATIO, Recorder  # noqa: E402
from arbiter.records import (  # noqa: E402
    Attempt,
    Candidate,
    DecisionRecord,
    GradeRecord,
    PolicyDelta,
)
from arbiter.store import open_store  # noqa: E402
from arbiter.writer_process import ProcessWriter  # noqa: E402

MODELS = ("mock-mini", "mock-gpt", "mock-large")


def _records(rng: random.Random) -> list[Any]:
    did, model, now = uuid.uuid4().hex, rng.choice(MODELS), time.time()
    cands = tuple(Candidate(m, rng.random(), 0.7, 1e-5) for m in MODELS)
    d = DecisionRecord(did, now, "default", "chat", "routed", model, "thompson", cands,
                       (Attempt(model, True, 1.2, None, 200),), "ok", 1e-5, "mock-large", 3e-4,
                       1.5, 20, 30, False, 0.3)  # fmt: skip
    return [d, GradeRecord(did, now, "default", "chat", model, 0.9, "auto"),
            PolicyDelta("default", "chat", model, 0.9, 0.1, 1.0)]  # fmt: skip


def _spin(us: float) -> None:
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(rec: Recorder | None, rate: float, seconds: float, work_us: float) -> list[float]:
    rng = random.Random(1)
    late: list[float] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    due = t0
    while due < t0 + seconds:
        due += rng.expovariate(rate)  # Poisson arrivals, as an open-loop client's
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
        late.append(max(0.0, loop.time() - due))
        _spin(work_us)
        if rec is not None:
            for r in _records(rng):
                rec.submit(r)
    return late


def _arm(kind: str, workdir: Path, rate: float, seconds: float, work_us: float) -> dict[str, Any]:
    url = f"sqlite:///{workdir}/{kind}-{uuid.uuid4().hex[:6]}.db"
    store = open_store(url)
    store.migrate()
    writer = (ProcessWriter(url, redacted_url=url, nicer_by=10) if kind.startswith("process")
              else None)  # fmt: skip
    pace: dict[str, Any] = {}
    if "-idle" in kind:  # SCHED_IDLE writer thread, transactions of PACE_CHUNK, no rests
        pace = {"chunk_max": PACE_CHUNK, "idle_priority": True}
    if kind.endswith("paced"):  # transactions of PACE_CHUNK records, rests between them
        pace = {"chunk_max": PACE_CHUNK, "rest_ratio": PACE_REST_RATIO}
    rec = None if kind == "none" else Recorder(store, writer=writer, **pace)
    if rec is not None:
        rec.start()
    cpu0, wall0 = time.process_time(), time.monotonic()
    late = asyncio.run(_drive(rec, rate, seconds, work_us))
    child_cpu = 0.0
    if rec is not None:
        assert rec.flush(60.0), "the writer did not catch up"
    cpu = time.process_time() - cpu0
    if writer is not None and writer.pid:
        child_cpu = _cpu_of(writer.pid)  # after the flush: all of its work
    if rec is not None:
        rec.stop(10.0)
    store.close()
    late.sort()
    n = len(late)

    def q(p: float) -> float:
        return round(late[min(n - 1, int(p * n))] * 1e3, 3)

    return {"arm": kind, "requests": n, "late_p50_ms": q(0.50), "late_p99_ms": q(0.99),
            "late_p999_ms": q(0.999), "late_max_ms": round(late[-1] * 1e3, 2),
            "over_1ms": sum(x > 0.001 for x in late), "over_10ms": sum(x > 0.01 for x in late),
            "cpu_us_per_request": round(cpu / n * 1e6, 1),
            "writer_process_cpu_us_per_request": round(child_cpu / n * 1e6, 1),
            "wall_s": round(time.monotonic() - wall0, 1),
            "loadavg_1m": round(os.getloadavg()[0], 2)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1500.0, help="requests/s")
    ap.add_argument("--seconds", type=float, default=15.0, help="per arm and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work-us", type=float, default=300.0, help="loop CPU per request")
    ap.add_argument("--core", type=int, default=0)
    ap.add_argument("--switch-interval", type=float, default=0.001, help="sys.setswitchinterval")
    ap.add_argument(
        "--arms",
        default="none,thread,process,thread-paced",
        help="comma-separated: none, thread, process, thread-paced, process-paced, thread-idle, "
        "process-idle",
    )
    args = ap.parse_args()
    os.sched_setaffinity(0, {args.core})
    sys.setswitchinterval(args.switch_interval)  # 0.001: as `arbiter serve`
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="arbiter-tail-writer-") as tmp:
        for _ in range(args.rounds):
            for kind in args.arms.split(","):
                row = _arm(kind, Path(tmp), args.rate, args.seconds, args.work_us)
                print(json.dumps(row), flush=True)
                rows.append(row)
    summary: dict[str, Any] = {"rate": args.rate, "work_us": args.work_us, "core": args.core}
    for kind in args.arms.split(","):
        mine = [r for r in rows if r["arm"] == kind]
        summary[kind] = {k: [r[k] for r in mine] for k in (
            "late_p99_ms", "late_p999_ms", "late_max_ms", "over_1ms", "cpu_us_per_request",
            "writer_process_cpu_us_per_request")}  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
