"""Models come and go: a sim pool whose listing changes during the run, through a live sidecar.

The sidecar (in process: its ASGI app, the simulated pool on a loopback thread, SQLite) knows
only its baseline and the judge from its config; every other model comes from the sim's
`GET /v1/models` (discovery, polled each second) and gets the shipped warm-start priors when its
name matches a family. During the run (request counts of the sim's schedule):
  - a new model appears that is better and cheaper than the others on math (no public family:
    it starts with no prior); new models start as challengers (shadow.challenge_new_models) and
    get shadow traffic until promoted;
  - a model disappears from the listing;
  - a model's listed price doubles (and its bills with it).
Requests are the project's demo workload (all tasks), one at a time.

Reported:
  new_model_routed_after_requests  requests after the newcomer appeared until it carries most
                                   (> 50% over a window of 20) of the summarization traffic
  shadow_spend_usd / budget        what shadow calls cost (the daily cap is a real reservation)
  added_latency_from_shadow_p50_ms p50 client latency of requests that also sent a shadow call,
                                   minus that of requests that did not (same run, same phase)
  requests_failed                  non-200 answers
  savings_pct_before_new_model     cost saved against the baseline before the newcomer appeared
  savings_pct_after                after it was promoted
  cold_start_savings_first_100     the first 100 requests (shipped priors only, no evidence);
                                   the same run without priors is printed next to it

    python bench/lifecycle.py [--requests 1200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.inproc import InProcess, sidecar_in_process

from arbiter.offline.workload import make_workload
from arbiter.toml_text import to_toml

NEWCOMER = "summa-next"  # no public family: starts with no prior
TASK = "summarization"  # what it is better and cheaper at (the judge grades it; math answers
# used to be graded 0.75 "unverified" whoever answered; now an unverifiable one is the judge's)
GONE = "llama-3.1-8b-instruct"
REPRICED = "gpt-4o-mini"
BASELINE = "gpt-4o"
OTHERS = {"code": 0.0, "extraction": 0.0, "summarization": 0.0, "translation": 0.0,
          "creative": 0.0, "chat": 0.0}  # fmt: skip


def _quality(math: float, code: float, rest: float, task: str, q: float) -> dict[str, float]:
    return {**dict.fromkeys(OTHERS, rest), "math": math, "code": code, task: q}


# qualities as the shipped priors' public figures say (where they have one), so a prior that
# matches a family is a fair starting belief; prices per 1M tokens (in, out)
POOL: dict[str, dict[str, Any]] = {
    BASELINE: {"price": (2.5, 10.0), "quality": _quality(0.91, 0.90, 0.93, TASK, 0.7)},
    REPRICED: {"price": (0.15, 0.6), "quality": _quality(0.87, 0.87, 0.92, TASK, 0.6)},
    GONE: {"price": (0.05, 0.08), "quality": _quality(0.84, 0.73, 0.80, TASK, 0.5)},
    "mistral-7b-instruct": {
        "price": (0.03, 0.05),
        "quality": _quality(0.52, 0.30, 0.68, TASK, 0.4),
    },
    # better than every other model at TASK (where none is good), and cheaper than all but two
    NEWCOMER: {"price": (0.06, 0.2), "quality": _quality(0.7, 0.6, 0.7, TASK, 0.99)},
}


def sim_doc(n: int) -> dict[str, Any]:
    appear, leave, reprice = n // 3, n // 2, (2 * n) // 3
    models: dict[str, Any] = {}
    for name, spec in POOL.items():
        p_in, p_out = spec["price"]
        models[name] = {
            "price_in_per_mtok": p_in,
            "price_out_per_mtok": p_out,
            "latency_ms": 20.0,
            "latency_jitter_ms": 4.0,
            "ms_per_chunk": 0.5,
            "report_cost": "body",
            "quality": spec["quality"],
            "listed": name != NEWCOMER,
        }
    models["judge"] = {"price_in_per_mtok": 0.15, "price_out_per_mtok": 0.6, "latency_ms": 5.0,
                       "report_cost": "body"}  # fmt: skip
    p_in, p_out = POOL[REPRICED]["price"]
    return {
        "seed": 7,
        "models": models,
        "schedule": [
            {"after_requests": appear, "model": NEWCOMER, "listed": True},
            {"after_requests": leave, "model": GONE, "listed": False},
            {"after_requests": reprice, "model": REPRICED, "price_in_per_mtok": 2 * p_in,
             "price_out_per_mtok": 2 * p_out, "reported_price_factor": 2.0},
        ],
    }  # fmt: skip


def edit_config(text: str, *, budget: float, priors: bool) -> str:
    doc = tomllib.loads(text)
    up = doc["upstreams"]["sim"]
    up["discover"] = True
    up["discover_interval_s"] = 1.0
    doc["models"] = {
        BASELINE: {"upstream": "sim", "price_in_per_mtok": 2.5, "price_out_per_mtok": 10.0,
                   "context_window": 128000,
                   "capabilities": ["chat", "json", "json-schema", "tools"]},
        "judge": {"upstream": "sim", "price_in_per_mtok": 0.15, "price_out_per_mtok": 0.6,
                  "context_window": 32000, "capabilities": ["chat", "no-route"]},
    }  # fmt: skip
    r = doc["routing"]
    r["baseline"] = BASELINE
    r["quality_target"] = 0.95
    r["judge_sample_rate"] = 1.0
    r["priors_file"] = "builtin" if priors else ""
    doc["shadow"] = {
        "challenge_new_models": True,
        "sample_rate": 1.0,
        "budget_usd": budget,
        "max_in_flight": 4,
        "promote_min_graded": 20,
    }
    doc["store"]["sync_interval_ms"] = 200
    return to_toml(doc)


async def run(n: int, budget: float, priors: bool, seed: int) -> dict[str, Any]:
    items = make_workload(n, seed=seed)
    sim_text = to_toml(sim_doc(n))
    with tempfile.TemporaryDirectory() as tmp:
        async with sidecar_in_process(
            Path(tmp),
            edit_sim=lambda _text: sim_text,
            edit_config=lambda text: edit_config(text, budget=budget, priors=priors),
        ) as sc:
            await asyncio.sleep(1.5)  # the first listing
            return await _drive(sc, items, n)


async def _drive(sc: InProcess, items: list[Any], n: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    appeared_at: int | None = None
    for i, item in enumerate(items):
        if appeared_at is None and NEWCOMER in sc.services.registry.discovered():
            appeared_at = i
        start = time.perf_counter()
        r = await sc.client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": item.messages},
            headers=sc.auth,
        )
        ms = (time.perf_counter() - start) * 1000
        ok = r.status_code == 200
        rows.append({
            "i": i, "ok": ok, "ms": ms, "task": item.task,
            "model": r.headers.get("x-arbiter-model"),
            "id": r.headers.get("x-arbiter-decision-id"),
            "cost": float(r.headers.get("x-arbiter-cost-usd", 0) or 0),
            "baseline": float(r.headers.get("x-arbiter-baseline-cost-usd", 0) or 0),
        })  # fmt: skip
        await asyncio.sleep(0)  # let background grading and shadow calls run between requests
    await sc.services.shadow.drain()
    await sc.services.learner.drain()
    sc.services.recorder.flush(10.0)
    # one page holds at most 1,000 (limit=10000 was clamped to that; now it is a 400)
    feed = (await sc.client.get("/arbiter/decisions?limit=1000", headers=sc.admin)).json()
    shadow_rows = [d for d in feed["data"] if d["mode"] == "shadow"]
    shadowed = {d["reason"].removeprefix("shadow of ") for d in shadow_rows}
    report = (await sc.client.get("/arbiter/challengers", headers=sc.admin)).json()
    return {
        "rows": rows,
        "appeared_at": appeared_at,
        "shadow_spend": sum(d["cost_usd"] for d in shadow_rows),
        "shadowed": shadowed,
        "report": report,
        "alerts": [
            a["kind"]
            for a in (await sc.client.get("/arbiter/alerts", headers=sc.admin)).json()["data"]
        ],
    }


def savings(rows: list[dict[str, Any]]) -> float | None:
    base = sum(r["baseline"] for r in rows if r["ok"])
    cost = sum(r["cost"] for r in rows if r["ok"])
    return round(100 * (1 - cost / base), 1) if base > 0 else None


def takeover(rows: list[dict[str, Any]], appeared: int | None, window: int = 20) -> int | None:
    """Requests after `appeared` until the newcomer carries > 50% of the last `window` requests
    of its task."""
    if appeared is None:
        return None
    math = [r for r in rows if r["task"] == TASK and r["i"] >= appeared]
    for j in range(window, len(math) + 1):
        recent = math[j - window : j]
        if sum(r["model"] == NEWCOMER for r in recent) * 2 > window:
            return int(recent[-1]["i"] - appeared)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=1200)
    ap.add_argument("--budget", type=float, default=0.02, help="shadow budget, USD per day")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="600 requests")
    args = ap.parse_args()
    n = 600 if args.quick else args.requests
    t0 = time.perf_counter()
    res = asyncio.run(run(n, args.budget, priors=True, seed=args.seed))
    cold = asyncio.run(run(100, args.budget, priors=False, seed=args.seed))
    rows, appeared = res["rows"], res["appeared_at"]
    k = takeover(rows, appeared)
    before = [r for r in rows if appeared is None or r["i"] < appeared]
    after = [r for r in rows if k is not None and appeared is not None and r["i"] >= appeared + k]
    with_shadow = [r["ms"] for r in rows if r["id"] in res["shadowed"]]
    without = [
        r["ms"]
        for r in rows
        if r["id"] not in res["shadowed"] and appeared is not None and r["i"] >= appeared
    ]
    added = (
        round(statistics.median(with_shadow) - statistics.median(without), 3)
        if with_shadow and without
        else None
    )
    share: dict[str, dict[str, int]] = {}
    for r in rows:
        phase = "before" if appeared is None or r["i"] < appeared else "after"
        share.setdefault(phase, {}).setdefault(str(r["model"]), 0)
        share[phase][str(r["model"])] += 1
    print(f"requests {n}; newcomer listed at request {appeared}; took over {TASK} after {k}")
    task_share: dict[str, int] = {}
    for r in rows:
        if r["task"] == TASK and appeared is not None and r["i"] >= appeared:
            task_share[str(r["model"])] = task_share.get(str(r["model"]), 0) + 1
    print(f"{TASK} after the newcomer appeared: {task_share}")
    print(f"model share: {json.dumps(share)}")
    print(f"challengers: {json.dumps(res['report']['data'], default=str)[:1500]}")
    print(f"shadow skipped: {res['report'].get('skipped')}")
    print(f"alerts: {sorted(set(res['alerts']))}")
    p50_with = statistics.median(with_shadow) if with_shadow else None
    p50_without = statistics.median(without) if without else None
    print(f"latency p50 with a shadow call {p50_with} ms, without {p50_without} ms")
    print(f"first 100: savings with shipped priors {savings(rows[:100])}%, "
          f"without priors {savings(cold['rows'])}%")  # fmt: skip
    print(f"({time.perf_counter() - t0:.0f} s)")
    print(
        json.dumps(
            {
                "requests": n,
                "new_model_routed_after_requests": k,
                "shadow_spend_usd": round(res["shadow_spend"], 6),
                "shadow_budget_usd": args.budget,
                "added_latency_from_shadow_p50_ms": added,
                "requests_failed": sum(not r["ok"] for r in rows),
                "savings_pct_before_new_model": savings(before),
                "savings_pct_after": savings(after),
                "cold_start_savings_first_100": savings(rows[:100]),
            }
        )
    )


if __name__ == "__main__":
    main()
