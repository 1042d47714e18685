"""`arbiter demo`: a simulated pool, a real sidecar, and a workload that shows the router learn.

Starts `arbiter sim` and `arbiter serve` as child processes on free loopback ports, calibrates
(a sample of other prompts sent to the baseline by name as the routed tenant: CALIBRATION_SHARE),
drives the project's own workload through the sidecar (model "auto"), sends feedback where the
demo knows the truth, sends the same prompts straight to the baseline model (pass-through, as a
tenant of its own) to measure the baseline's graded quality, then reads the decision feed and
prints the result. The bar is on routing's choices over the second half's whole traffic mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

import httpx
import orjson

from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on
from arbiter.offline.workload import WorkItem, make_workload
from arbiter.toml_text import to_toml

API_KEY_ENV = "ARBITER_DEMO_SIM_KEY"
ADMIN_KEY_ENV = "ARBITER_DEMO_ADMIN_KEY"

# The demo's simulated pool: (price in, price out per 1M tokens, latency ms, chance of a good answer
# on code, math, extraction, open-ended tasks). Shaped like real pools: the cheap end is fine for
# open-ended chat and simple extraction, and only the upper tiers are reliable on code and math.
DEMO_POOL: dict[str, tuple[float, float, float, tuple[float, float, float, float]]] = {
    "sim-tiny": (0.10, 0.20, 8.0, (0.35, 0.30, 0.60, 0.85)),
    "sim-small": (0.50, 1.50, 12.0, (0.70, 0.60, 0.94, 0.93)),
    "sim-medium": (2.50, 10.0, 20.0, (0.93, 0.92, 0.95, 0.94)),
    "sim-premium": (15.0, 60.0, 30.0, (0.96, 0.95, 0.97, 0.96)),
}
# Realistic latency profiles (TTFT ms, tokens/s) run at DEMO_LATENCY_SCALE of real time, so the
# demo stays quick while routing sees the tiers' relative speeds (sim/latency_profile.py).
DEMO_LATENCY: dict[str, tuple[float, float]] = {
    "sim-tiny": (250.0, 200.0),
    "sim-small": (400.0, 140.0),
    "sim-medium": (700.0, 90.0),
    "sim-premium": (1000.0, 60.0),
}
DEMO_LATENCY_SCALE = 0.02
BASELINE = "sim-premium"
# Warm-start priors as an operator would state them from public benchmark tables: coarse per
# tier, deliberately not the simulator's true rates (code/math, extraction, open-ended).
DEMO_PRIORS: dict[str, tuple[float, float, float]] = {
    "sim-tiny": (0.45, 0.6, 0.75),
    "sim-small": (0.65, 0.8, 0.85),
    "sim-medium": (0.85, 0.9, 0.9),
    "sim-premium": (0.93, 0.95, 0.93),
}
JUDGE = ("judge", 0.15, 0.60)
# The tiers the demo serves over Anthropic's Messages API once the sidecar can call Anthropic
# upstreams: pass them as `anthropic_models` to both sim_config and demo_config. Off by default
# (every tier OpenAI), so today's sidecar can route the whole pool.
ANTHROPIC_TIERS: tuple[str, ...] = ("sim-medium",)
ANTHROPIC_UPSTREAM = "sim-anthropic"
ROUTED_TENANT = "demo"
BASELINE_TENANT = "demo-baseline"  # the paired baseline calls: measurement, not traffic


_OPEN_TASKS = ("summarization", "translation", "creative", "chat")


def sim_settings(anthropic_models: Collection[str] = (), *, paired: bool = False) -> dict[str, Any]:
    """The simulated pool; the models named in `anthropic_models` are served on /v1/messages.
    `paired` (the demo's own runs): every draw a function of the prompt, not of the order
    concurrent requests arrive in, and one quality draw per prompt shared by the models, so the
    routed answer and the baseline's to the same prompt differ by the models' rates, not by
    luck. Off for the tests that share this pool (they send one prompt many times)."""
    models: dict[str, Any] = {}
    for name, (pin, pout, latency, (code, math, extraction, open_)) in DEMO_POOL.items():
        models[name] = {
            **({"protocol": "anthropic"} if name in anthropic_models else {}),
            "price_in_per_mtok": pin,
            "price_out_per_mtok": pout,
            "latency_ms": latency,
            "latency_jitter_ms": 2.0,
            "ms_per_chunk": 0.5,
            "report_cost": "body" if name == BASELINE else "none",
            "latency": {"ttft_ms": DEMO_LATENCY[name][0], "tokens_per_s": DEMO_LATENCY[name][1],
                        "load_slowdown": 0.05, "stall_p": 0.005, "stall_ms": 2000.0},
            "quality": {"code": code, "math": math, "extraction": extraction,
                        **dict.fromkeys(_OPEN_TASKS, open_)},
        }  # fmt: skip
    name, pin, pout = JUDGE
    models[name] = {"price_in_per_mtok": pin, "price_out_per_mtok": pout, "latency_ms": 5.0,
                    "judge": True}  # fmt: skip
    pairing = {"same_draws_per_prompt": True, "paired_quality_draws": True} if paired else {}
    return {"seed": 7, "latency_scale": DEMO_LATENCY_SCALE, **pairing, "models": models}


def sim_config(anthropic_models: Collection[str] = (), *, paired: bool = False) -> str:
    return to_toml(sim_settings(anthropic_models, paired=paired))


def demo_settings(
    sim_url: str,
    db_path: Path,
    *,
    auth: bool = True,
    anthropic_models: Collection[str] = (),
    cache: bool = False,
    router_seed: int | None = None,
) -> dict[str, Any]:
    """The sidecar config for the demo pool: registry prices match the sim's. Models named in
    `anthropic_models` go through a second upstream, the same simulator spoken to over
    Anthropic's API (its base URL has no /v1: the client appends /v1/messages). `router_seed`:
    the routers' draws' seed (routing.seed), so a demo run's choices are not a fresh dice roll."""
    upstreams: dict[str, Any] = {"sim": {"base_url": sim_url, "api_key_env": API_KEY_ENV}}
    if anthropic_models:
        upstreams[ANTHROPIC_UPSTREAM] = {
            "base_url": sim_url.removesuffix("/v1"),
            "protocol": "anthropic",
            "api_key_env": API_KEY_ENV,
        }
    models: dict[str, Any] = {}
    for name, pin, pout in [(n, p[0], p[1]) for n, p in DEMO_POOL.items()] + [JUDGE]:
        models[name] = {
            "upstream": ANTHROPIC_UPSTREAM if name in anthropic_models else "sim",
            "price_in_per_mtok": pin,
            "price_out_per_mtok": pout,
            "context_window": 32000,
            "capabilities": ["chat", "no-route"]
            if name == JUDGE[0]
            else ["chat", "json", "json-schema", "tools"],
        }
        if name in DEMO_PRIORS:
            hard, extraction, open_ = DEMO_PRIORS[name]
            models[name]["priors"] = {"code": hard, "math": hard, "extraction": extraction,
                                      **dict.fromkeys(_OPEN_TASKS, open_)}  # fmt: skip
    return {
        **({"cache": {"enabled": True}} if cache else {}),
        # the demo's client grades every answer as fast as the sim answers: no feedback limit
        "auth": {"mode": "keys", "admin_key_env": ADMIN_KEY_ENV, "feedback_per_minute": 0}
        if auth
        else {"mode": "open", "feedback_per_minute": 0},
        "server": {"log_level": "warning"},
        "store": {"url": f"sqlite:///{db_path}"},
        "routing": {
            "baseline": BASELINE,
            "quality_target": 0.98,  # aim above the 95% bar the demo reports against
            "judge_model": "judge",
            "judge_sample_rate": 1.0,
            **({"seed": router_seed} if router_seed is not None else {}),
        },
        "upstreams": upstreams,
        "models": models,
    }


def demo_config(sim_url: str, db_path: Path, **options: Any) -> str:
    """`demo_settings` (same options) as the text of an arbiter.toml."""
    return to_toml(demo_settings(sim_url, db_path, **options))


@dataclass(slots=True)
class Running:
    base_url: str
    sim_url: str
    procs: list[subprocess.Popen[bytes]]
    workdir: Path
    api_key: str
    admin_key: str
    # the demo's own baseline calls run as a tenant of their own, so the routed tenant's
    # /arbiter/stats counts only routed traffic (the table's savings less the judge's spend,
    # which stats report apart under `learning`)
    baseline_key: str = "open-mode"


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if (
                httpx.get(url, timeout=1.0, headers={"authorization": "Bearer demo"}).status_code
                < 500
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # down, or a 503 (workers still starting): not a busy loop
    raise RuntimeError(f"{url} did not come up within {timeout_s}s")


@contextlib.contextmanager
def running_stack(
    workdir: Path,
    *,
    auth: bool = True,
    anthropic_models: Collection[str] = (),
    cache: bool = False,
    seed: int | None = None,
) -> Iterator[Running]:
    """The sim pool and a sidecar on it. `seed`: a demo run, reproducible as far as it can be:
    the routers draw from it (routing.seed) and the pool's draws are paired (sim_settings)."""
    admin_key = "adm-" + secrets.token_urlsafe(24)
    env = {**os.environ, API_KEY_ENV: "sim-demo-key", ADMIN_KEY_ENV: admin_key}
    # both ports held from their choice on: another stack started at once cannot take them
    sim_sock, sock = loopback_listener(), loopback_listener()
    sim_url = f"http://127.0.0.1:{port_of(sim_sock)}/v1"
    root = f"http://127.0.0.1:{port_of(sock)}"
    cfg = workdir / "arbiter.toml"
    cfg.write_text(
        demo_config(
            sim_url,
            workdir / "arbiter.db",
            auth=auth,
            anthropic_models=anthropic_models,
            cache=cache,
            router_seed=seed,
        )
    )
    sim_cfg = workdir / "sim.toml"
    # a seeded stack is a demo run: its pool's draws are paired and per prompt too
    sim_cfg.write_text(sim_config(anthropic_models, paired=seed is not None))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sim = [sys.executable, "-m", "arbiter", "sim", "--config", str(sim_cfg), *fd_args(sim_sock)]
        procs.append(spawn_on(sim_sock, sim, env, start_new_session=True))
        _wait_http(f"{sim_url}/models", procs[-1])
        serve = [sys.executable, "-m", "arbiter", "serve", "--config", str(cfg), *fd_args(sock)]
        procs.append(spawn_on(sock, serve, env, start_new_session=True))
        _wait_http(f"{root}/healthz", procs[-1])
        api_key = baseline_key = "open-mode"
        if auth:
            api_key = admin_create_key(root, admin_key, ROUTED_TENANT, "demo")
            baseline_key = admin_create_key(root, admin_key, BASELINE_TENANT, "demo baseline")
        yield Running(f"{root}/v1", sim_url, procs, workdir, api_key, admin_key, baseline_key)
    finally:
        sim_sock.close()  # a no-op once its child has it
        sock.close()
        stop_processes(procs)


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout_s: float = 15) -> None:
    """SIGTERM each (newest first), then wait; kill what does not stop in time."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()


def admin_create_key(root_url: str, admin_key: str, tenant: str, name: str) -> str:
    """A client key made through the admin API of a running sidecar."""
    r = httpx.post(
        f"{root_url}/arbiter/admin/keys",
        json={"tenant": tenant, "name": name},
        headers={"authorization": f"Bearer {admin_key}"},
        timeout=10,
    )
    r.raise_for_status()
    return str(r.json()["key"])


def _body(item: WorkItem, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": item.messages}
    if item.response_format is not None:
        body["response_format"] = item.response_format
    if item.max_tokens is not None:
        body["max_tokens"] = item.max_tokens
    return body


async def drive(
    base_url: str,
    items: list[WorkItem],
    *,
    baseline: str,
    seed: int,
    concurrency: int,
    api_key: str = "demo",
    baseline_api_key: str | None = None,
    progress: bool = True,
    calibration: list[WorkItem] | None = None,
) -> dict[str, Any]:
    """Send every item routed (model "auto") and also to the baseline, give feedback where the
    truth is known. Returns per-request rows for the report. With `baseline_api_key` (a key of
    another tenant) the baseline calls, and the judge calls grading them, stay out of the routed
    tenant's records, so its /arbiter/stats agree with the report (the report's cost adds the
    judge's calls, which stats show on their own `learning` line). `calibration`: prompts sent
    first, by name to the baseline as the routed tenant (see CALIBRATION)."""
    from tqdm import tqdm

    rows: dict[int, dict[str, Any]] = {}
    shadow_every = 1  # every prompt also goes to the baseline: a paired comparison
    sem = asyncio.Semaphore(concurrency)
    headers = {"authorization": f"Bearer {api_key}"}
    base_headers = {"authorization": f"Bearer {baseline_api_key or api_key}"}
    bar = tqdm(
        total=len(items), desc="demo workload", unit="req", disable=not progress, file=sys.stderr
    )
    async with (
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60.0) as client,
        httpx.AsyncClient(base_url=base_url, headers=base_headers, timeout=60.0) as base_client,
    ):

        async def one(i: int, item: WorkItem, model: str, calibrating: bool = False) -> None:
            # the baseline shadow is the measurement: never served from (or stored in) the cache
            bypass = {"x-arbiter-cache-control": "no-store"} if model != "auto" else {}
            http = client if model == "auto" or calibrating else base_client
            mode = "calibration" if calibrating else "routed" if model == "auto" else "baseline"
            async with sem:
                r = await http.post("/chat/completions", json=_body(item, model), headers=bypass)
                row: dict[str, Any] = {
                    "i": -1 if calibrating else i,
                    "task": item.task,
                    "status": r.status_code,
                    "mode": mode,
                }
                if r.status_code == 200:
                    data = r.json()
                    content = data["choices"][0]["message"].get("content") or ""
                    row.update(
                        decision_id=r.headers["x-arbiter-decision-id"],
                        model=r.headers["x-arbiter-model"],
                        cost=float(r.headers["x-arbiter-cost-usd"]),
                        baseline_cost=float(r.headers["x-arbiter-baseline-cost-usd"]),
                        cache=r.headers.get("x-arbiter-cache"),
                        cache_saved=float(r.headers.get("x-arbiter-cache-saved-usd", 0.0)),
                        cache_source=r.headers.get("x-arbiter-cache-source-decision-id"),
                    )
                    truth = item.check(content)
                    if truth is not None:
                        await http.post(
                            "/feedback", json={"decision_id": row["decision_id"], "score": truth}
                        )
                rows[-1 - i if calibrating else i * 2 + (model != "auto")] = row
            if model == "auto":
                bar.update(1)

        # the operator's calibration: the baseline's quality on this traffic, measured where the
        # router learns it (the routed tenant), before the first routed request
        await asyncio.gather(*(one(j, c, baseline, True) for j, c in enumerate(calibration or ())))

        # keep arrival order roughly sequential so "second half" means later in time
        slots = asyncio.Semaphore(concurrency * 2)
        window: set[asyncio.Task[None]] = set()

        async def bounded(job: Any) -> None:
            try:
                await job
            finally:
                slots.release()

        for i, item in enumerate(items):
            jobs = [one(i, item, "auto")]
            if (i + seed) % shadow_every == 0:
                jobs.append(one(i, item, baseline))
            for job in jobs:
                await slots.acquire()
                t = asyncio.ensure_future(bounded(job))
                window.add(t)
                t.add_done_callback(window.discard)
        await asyncio.gather(*window)
        bar.close()
        await asyncio.sleep(1.0)  # let background grading (judge calls) land
        feed = await _feed(client, len(rows))
        base_feed = await _feed(base_client, len(rows)) if baseline_api_key else {}
    for row in rows.values():
        d = feed.get(row.get("decision_id", "")) or base_feed.get(row.get("decision_id", ""), {})
        row["grade"] = d.get("grade")
        row["ts"] = d.get("ts")
    # the judge's own calls are real spend of routing: charge them to the routed side (those
    # grading the baseline's answers are the comparison's cost when it runs as its own tenant)
    judge = [
        {"i": -1, "mode": "judge", "ts": d["ts"], "cost": d["cost_usd"], "status": 200}
        for d in feed.values()
        if d["mode"] == "judge"
    ]
    return {"rows": [rows[k] for k in sorted(rows)] + judge, "baseline": baseline}


async def _feed(client: httpx.AsyncClient, n: int) -> dict[str, dict[str, Any]]:
    """The whole decision feed (paged), polled until background grading has settled."""
    deadline = time.monotonic() + 10
    previous = -1
    while True:
        data = await _all_decisions(client)
        graded = sum(1 for d in data.values() if d.get("grade") is not None)
        if graded == previous or time.monotonic() > deadline:
            return data
        previous = graded
        await asyncio.sleep(0.5)


async def _all_decisions(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"limit": 1000}
    while True:
        r = await client.get("/../arbiter/decisions", params=params)
        r.raise_for_status()
        body = r.json()
        out.update((d["id"], d) for d in body["data"])
        if not body["has_more"]:
            return out
        params["after"] = body["last_id"]


def summarize(rows: list[dict[str, Any]], baseline: str, n_items: int) -> dict[str, Any]:
    baseline_of = {r["decision_id"]: r["baseline_cost"] for r in rows if r.get("decision_id")}
    cost_of = {r["decision_id"]: r["cost"] for r in rows if r.get("decision_id")}

    def part(sel: list[dict[str, Any]]) -> dict[str, Any]:
        routed = [r for r in sel if r["mode"] == "routed" and r["status"] == 200]
        base = [r for r in sel if r["mode"] == "baseline" and r["status"] == 200]
        judge_cost = sum(r["cost"] for r in sel if r["mode"] == "judge")
        # calibration calls are the routed tenant's spend on the baseline itself: nothing saved
        calibration = [r for r in sel if r["mode"] == "calibration" and r["status"] == 200]
        calibration_cost = sum(r["cost"] for r in calibration)
        cost = sum(r["cost"] for r in routed) + judge_cost + calibration_cost
        # a cache hit costs 0 against a baseline of 0: these are routing's numbers (misses)
        base_cost = sum(r["baseline_cost"] for r in routed) + calibration_cost
        hits = [r for r in routed if r.get("cache") in ("hit", "semantic-hit")]
        cache_saved = sum(r["cache_saved"] for r in hits)
        # what the hits' prompts would have cost on the baseline (their source rows' baseline)
        hits_baseline = sum(baseline_of.get(r["cache_source"], 0.0) for r in hits)
        everything = base_cost + hits_baseline
        # routing's choices over every request: a hit counted at what routing paid for the
        # answer it replays. The cache takes mostly the cheap-routed repeats (chat) out of the
        # misses, so savings on misses alone measure that mix shift as much as the router.
        routed_all = (
            cost - calibration_cost + sum(cost_of.get(r["cache_source"], 0.0) for r in hits)
        )
        q = [r["grade"] for r in routed if r.get("grade") is not None]
        bq = [r["grade"] for r in base if r.get("grade") is not None]
        quality = sum(q) / len(q) if q else 0.0
        bquality = sum(bq) / len(bq) if bq else 0.0
        by: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in routed:
            by[r["model"]][r["task"]] += 1
        return {
            "requests": len([r for r in sel if r["mode"] == "routed"]),
            "failed": len([r for r in sel if r["mode"] == "routed" and r["status"] != 200]),
            "cost_usd": round(cost, 6),
            "judge_cost_usd": round(judge_cost, 6),
            "calibration_requests": len(calibration),
            "calibration_cost_usd": round(calibration_cost, 6),
            "baseline_cost_usd": round(base_cost, 6),
            "savings_pct": round(100 * (1 - cost / base_cost), 2) if base_cost else 0.0,
            "routing_savings_pct": round(
                100 * (1 - routed_all / (everything - calibration_cost)), 2
            )
            if everything > calibration_cost
            else 0.0,
            "cache_hits": len(hits),
            "cache_saved_usd": round(cache_saved, 6),
            # routing and cache together, against every request (hits too) on the baseline
            "total_savings_pct": round(100 * (1 - cost / everything), 2) if everything else 0.0,
            "quality": round(quality, 4),
            "baseline_quality": round(bquality, 4),
            "quality_ratio": round(quality / bquality, 4) if bquality else 0.0,
            "graded": len(q),
            "baseline_graded": len(bq),
            "by_model_task": {m: dict(t) for m, t in sorted(by.items())},
        }

    whole = part(rows)
    half_ts = min((r["ts"] for r in rows if r["i"] >= n_items // 2 and r.get("ts")), default=0.0)
    second = [
        r for r in rows if r["i"] >= n_items // 2 or (r["mode"] == "judge" and r["ts"] >= half_ts)
    ]
    whole["second_half"] = part(second)
    whole["baseline_model"] = baseline
    return whole


def protocols(anthropic_models: Collection[str] = ()) -> dict[str, str]:
    """The API each demo model is served on, for the report."""
    return {m: "anthropic" if m in anthropic_models else "openai" for m in DEMO_POOL}


def render(result: dict[str, Any]) -> str:
    tasks = sorted({t for m in result["by_model_task"].values() for t in m})
    apis: Mapping[str, str] = result.get("protocols", {})
    lines = ["", "Requests per model and task (routed, whole run):"]
    head = f"  {'model':<12}{'api':<10}" + "".join(f"{t[:11]:>12}" for t in tasks) + f"{'total':>8}"
    lines.append(head)
    for model, counts in result["by_model_task"].items():
        cells = "".join(f"{counts.get(t, 0):>12}" for t in tasks)
        lines.append(
            f"  {model:<12}{apis.get(model, 'openai'):<10}{cells}{sum(counts.values()):>8}"
        )
    lines += [
        "",
        f"  {'':<14}{'requests':>9}{'cost $':>11}{'baseline $':>12}{'routing':>9}"
        f"{'hits':>6}{'cache $':>10}{'total':>8}"
        f"{'quality':>9}{'baseline q':>11}{'q ratio':>9}",
    ]
    for name, part in (("whole run", result), ("second half", result["second_half"])):
        lines.append(
            f"  {name:<14}{part['requests']:>9}{part['cost_usd']:>11.4f}"
            f"{part['baseline_cost_usd']:>12.4f}{part['savings_pct']:>8.1f}%"
            f"{part.get('cache_hits', 0):>6}{part.get('cache_saved_usd', 0.0):>10.4f}"
            f"{part.get('total_savings_pct', part['savings_pct']):>7.1f}%"
            f"{part['quality']:>9.3f}{part['baseline_quality']:>11.3f}{part['quality_ratio']:>9.3f}"
        )
    lines += [
        "",
        "  routing: savings on the requests sent upstream (baseline $ = those requests on the "
        "baseline);",
        "  hits / cache $: requests answered from the response cache and the upstream spend they "
        "avoided;",
        "  total: routing and cache together, against every request on the baseline",
    ]
    sh = result["second_half"]
    if result.get("calibration_requests"):
        lines += [
            f"  calibration: {result['calibration_requests']} requests sent to the baseline as "
            f"the routed tenant before the run (${result['calibration_cost_usd']:.4f}, in the "
            "whole run's cost)",
        ]
    ok = meets_bar(sh)
    lines += [
        "",
        f"  baseline model: {result['baseline_model']}; second half: routing's choices over "
        f"every request {sh.get('routing_savings_pct', sh['savings_pct']):.1f}% cheaper at "
        f"{sh['quality_ratio']:.3f} of its quality,",
        f"  so it {'meets' if ok else 'MISSES'} the bar (>= 50% cheaper at >= 95% quality; a "
        "cache hit counts what routing paid for the answer it replays)",
        "",
    ]
    return "\n".join(lines)


def meets_bar(part: Mapping[str, Any]) -> bool:
    """The demo's claim: routing alone is >= 50% cheaper than the baseline at >= 95% of its
    graded quality, over the whole traffic mix (routing_savings_pct)."""
    savings = part.get("routing_savings_pct", part["savings_pct"])
    return bool(savings >= 50 and part["quality_ratio"] >= 0.95)


# Real traffic repeats itself (retries, the same FAQ asked by many users, agents re-asking): a
# seeded share of the demo's requests re-send an earlier prompt verbatim, which the response
# cache answers. The share is a demo setting, not a measurement of anyone's traffic.
REPEAT_SHARE = 0.15
# An operator measures the baseline on its own traffic before trusting `auto`: the demo sends
# this share of --requests (other prompts of the same workload generator) by name to the baseline
# as the routed tenant first. The router learns the bar it routes against (a share of the
# baseline's quality) from them; they are that tenant's spend, in the whole run's cost.
CALIBRATION_SHARE = 0.4


def calibration_items(requests: int, seed: int) -> list[WorkItem]:
    return make_workload(int(requests * CALIBRATION_SHARE), seed ^ 0xCA1)


def with_repeats(items: list[WorkItem], seed: int, share: float = REPEAT_SHARE) -> list[WorkItem]:
    """`items` with a seeded `share` of them (never the first) replaced by an exact copy of an
    earlier item, so a cache has something honest to find."""
    rng = Random(seed ^ 0x5EED)
    out = list(items)
    for i in range(1, len(out)):
        if rng.random() < share:
            out[i] = out[rng.randrange(i)]
    return out


def run_workload(
    stack: Running, items: list[WorkItem], *, seed: int, concurrency: int, progress: bool
) -> dict[str, Any]:
    """The demo's workload through a running stack (after its calibration), summarized as the
    report prints it."""
    data = asyncio.run(
        drive(
            stack.base_url,
            items,
            baseline=BASELINE,
            seed=seed,
            concurrency=concurrency,
            api_key=stack.api_key,
            baseline_api_key=stack.baseline_key,
            progress=progress,
            calibration=calibration_items(len(items), seed),
        )
    )
    return summarize(data["rows"], BASELINE, len(items))


def run(
    *,
    requests: int,
    seed: int,
    as_json: bool,
    keep_running: bool,
    concurrency: int,
    anthropic_models: Collection[str] = (),
) -> int:
    """`anthropic_models` (e.g. ANTHROPIC_TIERS): tiers served over Anthropic's API."""
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    items = with_repeats(make_workload(requests, seed), seed)
    with (
        tempfile.TemporaryDirectory(prefix="arbiter-demo-") as tmp,
        running_stack(Path(tmp), anthropic_models=anthropic_models, cache=True, seed=seed) as stack,
    ):
        result = run_workload(stack, items, seed=seed, concurrency=concurrency,
                              progress=not as_json)  # fmt: skip
        result["protocols"] = protocols(anthropic_models)
        if as_json:
            print(orjson.dumps(result).decode())
        else:
            print(render(result))
        if keep_running:
            print(f"base_url: {stack.base_url}", flush=True)
            print(f"api_key: {stack.api_key}", flush=True)
            root = stack.base_url.removesuffix("/v1")
            print(f"dashboard: {root}/arbiter/ui (sign in with the api_key)", flush=True)
            print("(sim and sidecar stay up; Ctrl-C or SIGTERM stops them)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return 0


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C, so the child processes are always stopped."""
    raise KeyboardInterrupt
