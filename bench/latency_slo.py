"""Latency-aware routing on a simulated pool whose models differ in speed, price and quality.

A workload with a mix of SLOs (none, loose, tight, impossible: `x-arbiter-max-latency-ms`) goes
through a live sidecar (in process, ASGI) over the simulated pool (a loopback thread), twice:
the router with the SLO headers, and the same router without them (no latency awareness). Two
more policies are computed from the sim's own draws, which are reproducible per prompt
(`same_draws_per_prompt`: every call of a prompt to a model answers the same, in the same time,
so `simulate.offline_call` gives any call's tokens, latency and grade without making it):
  * always-fastest: the model with the lowest median latency, for every request;
  * oracle: for each request, the cheapest model meeting the quality target (its true pass rate
    >= quality_target x the baseline's) whose latency for this very call fits the SLO; none
    fits: the one of those that is fastest on this call (issue 19's rule, as the router's).

SLO attainment "at the asked quantile": among requests with an SLO that some model meeting the
quality target meets with probability >= routing.latency_quantile (the sim's profile, Monte
Carlo over its draws, for the answer this prompt gets), the share routed to a model that meets
it with that probability. An SLO no such model meets is mis-set: the router picks the fastest
and says so (issue 19), and it is not scored. Before s7 both counted every model: a 700 ms
summary that only tiny (under the quality bar) meets, because tiny's poor answer is a fifth as
long, was a miss, and the oracles took tiny there; both figures are printed (`*_before_s7`).
Also printed: the realized share of SLO requests answered within their SLO.

Quality: the share of good answers (the sim's grade), an answer later than its SLO counting as
not good; `quality_ratio` is against always-baseline (`routing.baseline`) without SLOs.
`quality_ratio_reachable_slos`: the same over requests without a mis-set SLO.

Cost: each policy's calls at the sim's prices. A request the sidecar cut at its deadline (a 504)
is billed as the full answer of the model it was routed to (an upper bound: the upstream bills
the tokens sent before the cut); `cost_vs_oracle_errors_as_fastest` keeps the earlier accounting
(every error billed as the fastest model's full answer) for comparison with older runs.

Streams (`--stream-share S`, default 0: none): each request is a stream with chance S
(`latency_slo_streams.plan`, the replay's), sent with `stream: true`; one that drew a total SLO
asks a first-token SLO instead (`x-arbiter-max-ttft-ms`, `latency_slo_streams.TTFT_SLO_MS`).
The client reads the SSE and times the first content token and the end as it sees them; a
stream's SLO is judged on its first token (attainment at the quantile, realized, a late first
token counting as not good), and the oracles read the sim's TTFT for that call. With S > 0 the
last line adds `first_token_attainment` (attainment over the streams' SLOs alone) and
`streams`, and the table a `ttft met` column.

Times run at --scale of real time (SLOs and profiles are stated in real ms; headers are scaled).
The pool has no load slowdown or failures, so the oracle is exact.

    python bench/latency_slo.py [--requests 600] [--scale 0.05] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn

from arbiter import config
from arbiter.offline.sim.config import parse_config
from arbiter.offline.sim.runner import sim_running
from arbiter.offline.sim.simulate import offline_call
from arbiter.offline.sim.state import SimState, prompt_tokens
from arbiter.offline.workload import make_workload
from arbiter.server import build_app
from arbiter.services import Services
from arbiter.toml_text import to_toml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import latency_slo_streams as streams_
from change_log import ChangeLog

QUANTILE = 0.9
QUALITY_TARGET = 0.9
BASELINE = "premium"
_OPEN = ("summarization", "translation", "creative", "chat")
# name: (price in, price out per 1M, TTFT ms, tokens/s, pass rate code, math, extraction, open)
POOL: dict[str, tuple[float, float, float, float, tuple[float, float, float, float]]] = {
    "tiny": (0.10, 0.40, 300.0, 150.0, (0.35, 0.35, 0.60, 0.80)),
    "small": (0.40, 1.60, 1200.0, 45.0, (0.90, 0.90, 0.95, 0.93)),
    "medium": (1.50, 6.00, 600.0, 90.0, (0.90, 0.90, 0.95, 0.94)),
    "turbo": (3.00, 12.0, 250.0, 220.0, (0.91, 0.90, 0.95, 0.95)),
    "premium": (15.0, 60.0, 1500.0, 40.0, (0.95, 0.95, 0.97, 0.96)),
}
TTFT_SIGMA, SPEED_SIGMA, STALL_P, STALL_MS = 0.3, 0.2, 0.005, 2000.0
# (share of requests, SLO in real ms or None)
SLO_MIX: tuple[tuple[float, float | None], ...] = (
    (0.3, None),
    (0.3, 8000.0),
    (0.35, 2500.0),
    (0.05, 700.0),  # often out of reach: the fastest model, cut at the deadline when late
)
WARMUP_PER_MODEL = 30
PREDICTED: dict[int, float] = {}  # item -> the sidecar's p-quantile prediction (real ms)


def quality_of(name: str, task: str) -> float:
    code, math_, extraction, open_ = POOL[name][4]
    return {"code": code, "math": math_, "extraction": extraction}.get(task, open_)


def sim_settings(scale: float) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for name, (pin, pout, ttft, tps, _) in POOL.items():
        models[name] = {
            "price_in_per_mtok": pin,
            "price_out_per_mtok": pout,
            "latency": {"ttft_ms": ttft, "ttft_sigma": TTFT_SIGMA, "tokens_per_s": tps,
                        "speed_sigma": SPEED_SIGMA, "stall_p": STALL_P, "stall_ms": STALL_MS},
            "quality": {"code": quality_of(name, "code"), "math": quality_of(name, "math"),
                        "extraction": quality_of(name, "extraction"),
                        **{t: quality_of(name, t) for t in _OPEN}},
        }  # fmt: skip
    return {"seed": 11, "require_auth": False, "latency_scale": scale,
            "same_draws_per_prompt": True, "difficulty_effect": 0.0, "models": models}  # fmt: skip


# --late-good-ratio: routing.latency_late_good_ratio for the sidecar (None: the config's)
LATE_GOOD: float | None = None


def sidecar_settings(
    sim_url: str, db: Path, scale: float, coverage_step: float | None = None
) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for name, (pin, pout, *_rest) in POOL.items():
        tasks = ("code", "math", "extraction", *_OPEN)
        models[name] = {
            "upstream": "sim",
            "price_in_per_mtok": pin,
            "price_out_per_mtok": pout,
            "context_window": 32000,
            "capabilities": ["chat", "json", "json-schema", "tools"],
            # quality is not what this bench measures: the router starts from the true rates
            "priors": {t: quality_of(name, t) for t in tasks},
        }
    return {
        "auth": {"mode": "open"},
        "server": {"log_level": "warning"},
        "store": {"url": f"sqlite:///{db}"},
        "routing": {
            "baseline": BASELINE,
            "quality_target": QUALITY_TARGET,
            "prior_strength": 200.0,
            "latency_quantile": QUANTILE,
            "difficulty": False,
        }
        | ({} if LATE_GOOD is None else {"latency_late_good_ratio": LATE_GOOD}),
        "upstreams": {"sim": {"base_url": sim_url}},
        "models": models,
        # the default prior for unknown models (2 s to the first token, 20 tokens/s), on the
        # bench's time scale
        "latency": {"prior_ttft_ms": 2000.0 * scale, "prior_tokens_per_s": 20.0 / scale}
        | ({} if coverage_step is None else {"coverage_step": coverage_step}),
    }


@dataclass(slots=True)
class Item:
    body: dict[str, Any]
    task: str
    slo_ms: float | None  # real ms
    # per model, from the sim's draws: (completion tokens, real seconds, good, cost USD)
    truth: dict[str, tuple[int, float, bool, float]]
    p_fit: dict[str, float]  # per model: P(latency <= SLO) under the profile (1.0 without SLO)


def build_items(n: int, seed: int, scale: float) -> list[Item]:
    cfg = parse_config(sim_settings(scale))
    scratch = SimState(replace(cfg, latency_scale=1.0))  # real seconds
    rng = random.Random(seed)
    draws = np.random.default_rng(seed)
    z1, z2 = draws.standard_normal(4000), draws.standard_normal(4000)
    stall = draws.random(4000) < STALL_P
    items = []
    for w in make_workload(n, seed):
        body: dict[str, Any] = {"model": "auto", "messages": w.messages}
        if w.response_format is not None:
            body["response_format"] = w.response_format
        if w.max_tokens is not None:
            body["max_tokens"] = w.max_tokens
        u, slo = rng.random(), None
        for share, ms in SLO_MIX:
            if u < share:
                slo = ms
                break
            u -= share
        truth, p_fit = {}, {}
        pt = prompt_tokens(w.messages)
        for name, (_, _, ttft, tps, _) in POOL.items():
            profile = scratch.profiles[name]
            tokens, seconds, good = offline_call(scratch, profile, body)
            truth[name] = (tokens, seconds, bool(good), profile.cost_usd(pt, tokens))
            if slo is None:
                p_fit[name] = 1.0
                continue
            t = ttft / 1000 * np.exp(TTFT_SIGMA * z1) + stall * STALL_MS / 1000
            t = t + tokens / (tps * np.exp(SPEED_SIGMA * z2))
            p_fit[name] = float(np.mean(t <= slo / 1000))
        items.append(Item(body, w.task, slo, truth, p_fit))
    return items


def fastest_model() -> str:
    """The model with the lowest median latency for a typical (150-token) answer."""
    return min(POOL, key=lambda m: POOL[m][2] / 1000 + 150 / POOL[m][3])


def good_enough(name: str, task: str) -> bool:
    return quality_of(name, task) >= QUALITY_TARGET * quality_of(BASELINE, task)


def none_fits_pool(item: Item, any_model: bool) -> list[str]:
    """Whom a policy picks the fastest of when no model over the quality bar meets the SLO:
    issue 19's rule, as the router implements it (`routing._latency_choice`), takes the fastest
    of those over the bar; the definition before 2026-12-05 s7 took the fastest of every model
    (`any_model`), so its oracles answered a mis-set SLO with a poor model's short answer."""
    return list(POOL) if any_model else [m for m in POOL if good_enough(m, item.task)]


def oracle(item: Item, any_model: bool = False) -> str:
    """Issue 19's rule knowing each call's latency: the cheapest model over the quality bar
    whose call fits the SLO; none: the fastest on this call (of `none_fits_pool`)."""
    ok = [m for m in POOL if good_enough(m, item.task)]
    if item.slo_ms is not None:
        fits = [m for m in ok if item.truth[m][1] * 1000 <= item.slo_ms]
        if not fits:
            return min(none_fits_pool(item, any_model), key=lambda m: item.truth[m][1])
        ok = fits
    return min(ok, key=lambda m: item.truth[m][3])


def quantile_oracle(item: Item, any_model: bool = False) -> str:
    """The best a calibrated router can do: the oracle's rule on each model's true chance of
    meeting the SLO (>= the quantile) instead of this call's draw."""
    ok = [m for m in POOL if good_enough(m, item.task)]
    if item.slo_ms is not None:
        fits = [m for m in ok if item.p_fit[m] >= QUANTILE]
        if not fits:
            return max(none_fits_pool(item, any_model), key=lambda m: item.p_fit[m])
        ok = fits
    return min(ok, key=lambda m: item.truth[m][3])


def reachable(item: Item, any_model: bool = False) -> bool:
    """Whether a request's SLO can be met at the quantile by a model over the quality bar (by
    any model, with `any_model`: the definition before s7, which counted a 700 ms summary that
    only tiny, under the bar, meets, because its poor answer is a fifth as long). A request
    without an SLO is reachable; one with an unreachable SLO is a mis-set SLO: the router picks
    the fastest and says so (issue 19), and attainment leaves it out."""
    if item.slo_ms is None:
        return True
    return any(
        p >= QUANTILE for m, p in item.p_fit.items() if any_model or good_enough(m, item.task)
    )


def _ms(ms: float, scale: float) -> str:
    return f"{max(ms * scale, 1.0):.3f}"


async def read_stream(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, float | None, float, int]:
    """One streamed request as a client sees it: (the response, seconds to the first content
    token or None, seconds to the end, completion tokens from the usage chunk or -1)."""
    t0 = time.perf_counter()
    first: float | None = None
    tokens = -1
    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
        if r.status_code != 200:
            await r.aread()
            return r, None, time.perf_counter() - t0, -1
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                return r, first, time.perf_counter() - t0, -1
            delta = (chunk.get("choices") or [{}])[0].get("delta") or {}
            if first is None and delta.get("content"):
                first = time.perf_counter() - t0
            if chunk.get("usage"):
                tokens = int(chunk["usage"].get("completion_tokens", -1))
    return r, first, time.perf_counter() - t0, tokens


async def run_arm(
    client: httpx.AsyncClient,
    items: list[Item],
    scale: float,
    slo: bool,
    concurrency: int,
    plan: list[streams_.Stream | None],
) -> tuple[list[tuple[str, float, int]], dict[int, float]]:
    """(model, real seconds seen by the client, completion tokens) per item, in order; and per
    stream that sent a first token, its real seconds to it as the client saw them."""
    out: list[tuple[str, float, int]] = [("", 0.0, 0)] * len(items)
    first_token: dict[int, float] = {}
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, item: Item) -> None:
        headers, s = {}, plan[i]
        if slo and s is not None and s.ttft_slo_ms is not None:
            headers["x-arbiter-max-ttft-ms"] = _ms(s.ttft_slo_ms, scale)
        elif slo and s is None and item.slo_ms is not None:
            headers["x-arbiter-max-latency-ms"] = _ms(item.slo_ms, scale)
        async with sem:
            if s is None:
                t0 = time.perf_counter()
                r = await client.post("/v1/chat/completions", json=item.body, headers=headers)
                seconds, ttft = time.perf_counter() - t0, None
                ok = r.status_code == 200
                tokens = r.json().get("usage", {}).get("completion_tokens", -1) if ok else -1
            else:
                r, ttft, seconds, tokens = await read_stream(client, item.body, headers)
        took = seconds / scale if scale > 0 else 0.0
        if ttft is not None and scale > 0:
            first_token[i] = ttft / scale
        model = r.headers.get("x-arbiter-model", "?")
        if r.status_code != 200:
            model = f"{cut_model(r)}:HTTP{r.status_code}"
        elif tokens < 0:  # a stream that broke after its headers
            model = f"{model}:broken"
        out[i] = (model, took, tokens)
        guess = r.headers.get("x-arbiter-predicted-latency-ms")
        if slo and guess is not None and scale > 0:
            PREDICTED[i] = float(guess) / scale  # real ms

    await asyncio.gather(*(one(i, it) for i, it in enumerate(items)))
    return out, first_token


def oracle_of(it: Item, s: streams_.Stream | None, any_model: bool = False) -> str:
    """The oracle's pick (`oracle`; a stream: on its first token, `latency_slo_streams`)."""
    return oracle(it, any_model) if s is None else streams_.oracle(it, s)


def quantile_oracle_of(it: Item, s: streams_.Stream | None, any_model: bool = False) -> str:
    """The quantile oracle's pick (`quantile_oracle`; a stream: on its first token)."""
    return quantile_oracle(it, any_model) if s is None else streams_.quantile_oracle(it, s)


def cut_model(r: httpx.Response) -> str:
    """The model whose call a 504 cut at the request's deadline ("<model>: the request deadline
    passed", failover.py), else "?"."""
    try:
        message = str(r.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return "?"
    name, sep, rest = message.partition(":")
    return name if sep and name in POOL and "deadline" in rest else "?"


def length_check(
    services: Services, items: list[Item], picks: list[tuple[str, float, int]]
) -> None:
    """How well the answer-length model's spread matches: z-scores of the actual lengths."""
    from arbiter.classify import classify
    from arbiter.difficulty import prompt_stats_and_shape

    zs = []
    for it, (m, _, _) in zip(items, picks, strict=True):
        if m not in POOL:
            continue
        text = "\n".join(str(msg["content"]) for msg in it.body["messages"])
        task = classify(it.body["messages"], it.body.get("response_format"))  # the router's
        stats, shape = prompt_stats_and_shape(text)
        mu, var = services.lengths.log_moments(m, stats, task, shape)
        zs.append((math.log1p(it.truth[m][0]) - mu) / math.sqrt(var))
    print(f"answer length z-scores (the spread read is the upper one): mean {np.mean(zs):.2f}, "
          f"sd {np.std(zs):.2f}")  # fmt: skip


def dump(
    path: Path,
    items: list[Item],
    picks: list[tuple[str, float, int]],
    plan: list[streams_.Stream | None],
    first_seen: dict[int, float],
) -> None:
    """Per request of the latency-aware arm: what it asked, what the router picked, what the
    oracles picked and each model's truth (for finding misses and cost excess by hand); a
    stream: its first-token SLO and the client's time to the first token."""
    with path.open("w") as f:
        for i, (it, (m, took, tokens), s) in enumerate(zip(items, picks, plan, strict=True)):
            text = str(it.body["messages"][-1]["content"])
            stream = (
                None
                if s is None
                else {"ttft_slo_ms": s.ttft_slo_ms, "first_ms": first_seen.get(i, math.inf) * 1000}
            )
            row = {"i": i, "task": it.task, "slo_ms": it.slo_ms, "pick": m, "took_ms": took * 1000,
                   "tokens": tokens, "predicted_ms": PREDICTED.get(i), "stream": stream,
                   "oracle": oracle_of(it, s), "quantile_oracle": quantile_oracle_of(it, s),
                   "reachable": streams_.reachable(it, s),
                   "oracle_before_s7": oracle(it, True), "p_fit": it.p_fit,
                   "truth": {k: [v[0], round(v[1] * 1000, 1), v[2], v[3]]
                             for k, v in it.truth.items()}, "prompt": text[:100]}  # fmt: skip
            f.write(json.dumps(row) + "\n")


@asynccontextmanager
async def sidecar_client(app: Any, transport: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the in-process sidecar: through ASGI (`asgi`, the bench's transport before
    streams), or over a loopback socket to a uvicorn server on this loop (`socket`). Streams
    need the socket: httpx's ASGITransport hands the client the body only once the app has
    finished it, so a stream's first token would read as its end."""
    if transport == "asgi":
        asgi = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=asgi, base_url="http://127.0.0.1",
                                     timeout=120) as client:  # fmt: skip
            yield client
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config_ = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                             timeout_graceful_shutdown=1)  # fmt: skip
    server = uvicorn.Server(config_)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):  # 10 s at most
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise RuntimeError("the sidecar's loopback server did not start")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


async def warm_up(client: httpx.AsyncClient, items: list[Item]) -> None:
    """A few calls to each model by name (probes): pass-through calls teach the latency model."""
    for name in POOL:
        for item in items[:WARMUP_PER_MODEL]:
            await client.post("/v1/chat/completions", json={**item.body, "model": name})


def summarize(
    name: str,
    picks: list[str],
    items: list[Item],
    seen: list[float] | None,
    cut: bool = True,
    errors_as_fastest: bool = False,
    any_model: bool = False,
    plan: list[streams_.Stream | None] | None = None,
    first_seen: dict[int, float] | None = None,
) -> dict[str, Any]:
    """`picks`: the model per item (an HTTP error: "<model>:HTTP<status>", billed as that
    model's full answer, an upper bound on a call cut at the deadline; an error without a
    model, or any error with `errors_as_fastest`: the fastest model, billed in full, the
    bench's accounting before 2026-12-05); `seen`: the latency the client saw (None: the sim's
    draw). With `cut`, an answer later than its SLO is cut at the deadline (the sidecar's rule)
    and is not a good answer. `any_model`: attainment over the requests some model (not only
    one over the quality bar) meets at the quantile, the definition before s7 (`reachable`).
    `plan`: which items are streams (`latency_slo_streams`): a stream's SLO is its first
    token's, judged on `first_seen` (the client's seconds to it; absent: none came) where
    `seen` is given, else on the sim's TTFT draw; streams use the s7 definitions."""
    fastest = fastest_model()
    plan = plan if plan is not None else [None] * len(items)
    picks = [
        m if m in POOL else (m.split(":")[0] if not errors_as_fastest else fastest) for m in picks
    ]
    picks = [m if m in POOL else fastest for m in picks]
    pairs = list(zip(picks, items, strict=True))
    cost = sum(it.truth[m][3] for m, it in pairs)
    latency_of = [it.truth[m][1] for m, it in pairs] if seen is None else seen

    def when_and_slo(i: int) -> tuple[float, float | None]:
        """(real ms the SLO is judged on, the SLO): a stream's first token, else the total."""
        s, m = plan[i], picks[i]
        if s is None:
            return latency_of[i] * 1000, items[i].slo_ms
        first = s.ttft_s[m] if seen is None or first_seen is None else first_seen.get(i, math.inf)
        return first * 1000, s.ttft_slo_ms

    timing = [when_and_slo(i) for i in range(len(items))]
    on_time = [not (cut and slo is not None and ms > slo) for ms, slo in timing]
    good = [it.truth[m][2] and ok for (m, it), ok in zip(pairs, on_time, strict=True)]

    def reach(i: int) -> bool:
        s = plan[i]
        return reachable(items[i], any_model) if s is None else streams_.reachable(items[i], s)

    feasible = [i for i in range(len(items)) if timing[i][1] is not None and reach(i)]
    sane = [i for i in range(len(items)) if streams_.reachable(items[i], plan[i])]
    # the picked model's true pass rate instead of its graded draw (a cut answer: 0), against
    # the baseline's: free of the grades' sampling noise (always-baseline's graded quality
    # ranges 0.943-0.970 over seeds 3-17 around its expected 0.958)
    expected = sum(
        quality_of(m, it.task) * ok for (m, it), ok in zip(pairs, on_time, strict=True)
    ) / sum(quality_of(BASELINE, it.task) for it in items)
    hit = {i: streams_.p_fit(items[i], plan[i], picks[i]) >= QUANTILE for i in feasible}
    first_hits = [hit[i] for i in feasible if plan[i] is not None]
    with_slo = [i for i in range(len(items)) if timing[i][1] is not None]
    met = [timing[i][0] <= (timing[i][1] or math.inf) for i in with_slo]
    first_met = [met[k] for k, i in enumerate(with_slo) if plan[i] is not None]
    return {
        "policy": name,
        "cost_usd": round(cost, 6),
        "quality": round(sum(good) / len(good), 4),
        "quality_reachable": round(sum(good[i] for i in sane) / max(len(sane), 1), 4),
        "quality_ratio_expected": round(expected, 4),
        "slo_attainment": round(sum(hit.values()) / max(len(hit), 1), 4),
        "slo_met_realized": round(sum(met) / max(len(met), 1), 4),
        "feasible_slo_requests": len(feasible),
        "first_token_attainment": round(sum(first_hits) / max(len(first_hits), 1), 4),
        "first_token_met_realized": round(sum(first_met) / max(len(first_met), 1), 4),
        "feasible_first_token_requests": len(first_hits),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    items = build_items(args.requests + WARMUP_PER_MODEL, args.seed, args.scale)
    warm, items = items[:WARMUP_PER_MODEL], items[WARMUP_PER_MODEL:]
    sim_cfg = parse_config(sim_settings(args.scale))
    plan = streams_.plan(items, args.seed, args.stream_share)
    results: dict[str, list[tuple[str, float, int]]] = {}
    firsts: dict[str, dict[int, float]] = {}
    for arm, slo in (("router_no_latency", False), ("router_latency_aware", True)):
        async with sim_running(sim_cfg) as sim:
            with tempfile.TemporaryDirectory() as tmp:
                settings = config.loads(
                    to_toml(
                        sidecar_settings(
                            sim.base_url, Path(tmp) / "a.db", args.scale, args.coverage_step
                        )
                    ),
                    env={},
                )
                services = Services(settings, seed=args.seed)
                app = build_app(settings, services=services)
                await services.start()
                changes = ChangeLog(services).install()
                try:
                    async with sidecar_client(app, args.transport) as client:
                        await warm_up(client, warm)
                        results[arm], firsts[arm] = await run_arm(
                            client, items, args.scale, slo, args.concurrency, plan
                        )
                    print(f"{arm}:", end=" ")
                    changes.report()
                    if slo:
                        print("learned:", json.dumps(services.latency.snapshot()))
                        coverage = getattr(services.latency, "coverage", None)  # (older code)
                        if coverage is not None:
                            print("coverage margins:", coverage.snapshot())
                        length_check(services, items, results[arm])
                finally:
                    await services.stop()
    if args.dump is not None:
        dump(
            args.dump, items, results["router_latency_aware"], plan, firsts["router_latency_aware"]
        )
    fastest = fastest_model()
    no_arm, aware_arm = results["router_no_latency"], results["router_latency_aware"]
    pf = {"plan": plan}
    rows = [
        summarize("always_fastest", [fastest] * len(items), items, None, **pf),
        summarize("router_no_latency", [m for m, _, _ in no_arm], items,
                  [t for _, t, _ in no_arm], first_seen=firsts["router_no_latency"], **pf),
        summarize("router_latency_aware", [m for m, _, _ in aware_arm], items,
                  [t for _, t, _ in aware_arm], first_seen=firsts["router_latency_aware"], **pf),
        summarize("oracle", [oracle_of(it, s) for it, s in zip(items, plan, strict=True)],
                  items, None, **pf),
        summarize("quantile_oracle",
                  [quantile_oracle_of(it, s) for it, s in zip(items, plan, strict=True)],
                  items, None, **pf),
        summarize("always_baseline", [BASELINE] * len(items), items, None, cut=False, **pf),
    ]  # fmt: skip
    # the definitions before s7 (mis-set SLOs counted as feasible, oracles answering them with
    # the fastest model of all, under the quality bar included), reported next to the new ones
    first_aware = firsts["router_latency_aware"]
    old = {r["policy"]: r for r in (
        summarize("router_latency_aware", [m for m, _, _ in aware_arm], items,
                  [t for _, t, _ in aware_arm], any_model=True, first_seen=first_aware, **pf),
        summarize("oracle", [oracle_of(it, s, True) for it, s in zip(items, plan, strict=True)],
                  items, None, any_model=True, **pf),
        summarize("quantile_oracle", [quantile_oracle_of(it, s, True)
                                      for it, s in zip(items, plan, strict=True)],
                  items, None, any_model=True, **pf),
    )}  # fmt: skip
    print("quality: share of good answers, one cut at its SLO's deadline counting as not good")
    print("(always_baseline: without SLOs, the quality reference)")
    n_streams = sum(s is not None for s in plan)
    ttft_head = f" {'ttft@q':>7s} {'ttft met':>8s}" if n_streams else ""
    print(f"{'policy':22s} {'cost $':>10s} {'quality':>8s} {'attain@q':>9s} {'met':>7s}"
          + ttft_head)  # fmt: skip
    for r in rows:
        ttft_cells = (f" {r['first_token_attainment']:7.4f} {r['first_token_met_realized']:8.4f}"
                      if n_streams else "")  # fmt: skip
        print(f"{r['policy']:22s} {r['cost_usd']:10.5f} {r['quality']:8.3f} "
              f"{r['slo_attainment']:9.4f} {r['slo_met_realized']:7.4f}" + ttft_cells)  # fmt: skip
    if n_streams:
        print(
            f"streams: {n_streams} of {len(items)}, "
            f"{by_streams(rows)} with a reachable first-token SLO"
        )
    by = {r["policy"]: r for r in rows}
    aware = by["router_latency_aware"]
    base_q, base_qr = by["always_baseline"]["quality"], by["always_baseline"]["quality_reachable"]
    print("against the goals (attainment / cost vs the oracle / quality vs the baseline), the")
    print("router and the oracles by the same definitions; 'before s7': mis-set SLOs counted")
    for label, b in (("s7", by), ("before s7", old)):
        for policy in ("router_latency_aware", "oracle", "quantile_oracle"):
            r = b[policy]
            cost = r["cost_usd"] / b["oracle"]["cost_usd"]
            print(f"  {label:9s} {policy:22s} attainment {r['slo_attainment']:.4f} of "
                  f"{r['feasible_slo_requests']}, cost {cost:.4f}"
                  f", quality {r['quality'] / base_q:.4f} (reachable SLOs only "
                  f"{r['quality_reachable'] / base_qr:.4f})")  # fmt: skip
    as_fastest = summarize("router_latency_aware", [m for m, _, _ in aware_arm], items,
                           [t for _, t, _ in aware_arm], errors_as_fastest=True,
                           first_seen=first_aware, **pf)  # fmt: skip
    cut = Counter(m for m, _, _ in results["router_latency_aware"] if ":HTTP" in m)
    print(f"cut at the deadline (billed as the model's full answer): {dict(cut)}; billed as "
          f"the fastest model instead, cost {as_fastest['cost_usd']:.5f}")  # fmt: skip
    mismatch = sum(
        1 for (m, _, tok), it in zip(results["router_latency_aware"], items, strict=True)
        if m in it.truth and tok != it.truth[m][0]
    )  # fmt: skip
    picks = Counter(m for m, _, _ in results["router_latency_aware"])
    print("latency-aware picks:", dict(picks))
    print("no-latency picks:", dict(Counter(m for m, _, _ in results["router_no_latency"])))
    print(f"offline/live token mismatches (must be 0): {mismatch}")
    aware_picks = results["router_latency_aware"]
    within = [aware_picks[i][1] * 1000 <= ms for i, ms in PREDICTED.items()]
    calibration = sum(within) / max(len(within), 1)
    print(f"calibration: {calibration:.3f} of {len(within)} SLO answers took <= the predicted "
          f"p{QUANTILE * 100:g}, as the client saw them (goal about {QUANTILE})")  # fmt: skip
    pairs = list(zip(items, plan, strict=True))
    print("oracle picks:", dict(Counter(oracle_of(it, s) for it, s in pairs)))
    print("quantile-oracle picks:", dict(Counter(quantile_oracle_of(it, s) for it, s in pairs)))
    print(f"feasible SLO requests: {aware['feasible_slo_requests']}; "
          f"wall {time.perf_counter() - t_start:.1f} s at scale {args.scale}")  # fmt: skip
    streamed = {} if not n_streams else {
        "first_token_attainment": aware["first_token_attainment"],
        "streams": n_streams,
        "first_token_met_realized": aware["first_token_met_realized"],
        "oracle_first_token_attainment": by["oracle"]["first_token_attainment"],
    }  # fmt: skip
    return {
        "requests": len(items),
        "slo_attainment": aware["slo_attainment"],
        "cost_vs_oracle": round(aware["cost_usd"] / by["oracle"]["cost_usd"], 4),
        "quality_ratio": round(aware["quality"] / by["always_baseline"]["quality"], 4),
        "cost_vs_always_fastest": round(aware["cost_usd"] / by["always_fastest"]["cost_usd"], 4),
        "cost_vs_oracle_errors_as_fastest": round(
            as_fastest["cost_usd"] / by["oracle"]["cost_usd"], 4
        ),
        "slo_met_realized": aware["slo_met_realized"],
        "calibration": round(calibration, 4),
        "cost_vs_quantile_oracle": round(aware["cost_usd"] / by["quantile_oracle"]["cost_usd"], 4),
        "quality_vs_router_no_latency": round(
            aware["quality"] / by["router_no_latency"]["quality"], 4
        ),
        # the oracles' own figures by the same definitions (what the goals are measured against)
        "oracle_slo_attainment": by["oracle"]["slo_attainment"],
        "oracle_quality_ratio": round(by["oracle"]["quality"] / base_q, 4),
        "quantile_oracle_cost_vs_oracle": round(
            by["quantile_oracle"]["cost_usd"] / by["oracle"]["cost_usd"], 4
        ),
        "quantile_oracle_quality_ratio": round(by["quantile_oracle"]["quality"] / base_q, 4),
        "quality_ratio_reachable_slos": round(aware["quality_reachable"] / base_qr, 4),
        "quality_ratio_expected": aware["quality_ratio_expected"],
        "oracle_quality_ratio_expected": by["oracle"]["quality_ratio_expected"],
        "quantile_oracle_quality_ratio_expected": by["quantile_oracle"]["quality_ratio_expected"],
        # the same by the definitions before s7
        "slo_attainment_before_s7": old["router_latency_aware"]["slo_attainment"],
        "cost_vs_oracle_before_s7": round(
            old["router_latency_aware"]["cost_usd"] / old["oracle"]["cost_usd"], 4
        ),
        "oracle_quality_ratio_before_s7": round(old["oracle"]["quality"] / base_q, 4),
        "quantile_oracle_cost_vs_oracle_before_s7": round(
            old["quantile_oracle"]["cost_usd"] / old["oracle"]["cost_usd"], 4
        ),
    } | streamed


def by_streams(rows: list[dict[str, Any]]) -> int:
    return int(rows[0]["feasible_first_token_requests"])


def main() -> int:
    global QUALITY_TARGET, LATE_GOOD
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=600)
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument(
        "--coverage-step",
        type=float,
        default=None,
        help="latency.coverage_step for the sidecar (default: the config's)",
    )
    p.add_argument(
        "--quality-target",
        type=float,
        default=QUALITY_TARGET,
        help="routing.quality_target for the router and the oracles' quality bar",
    )
    p.add_argument(
        "--dump",
        type=Path,
        default=None,
        help="write the latency-aware arm's requests as JSON lines (misses, costs)",
    )
    p.add_argument(
        "--stream-share",
        type=float,
        default=0.0,
        help="the share of requests sent as streams, a first-token SLO in place of a total one"
        " (latency_slo_streams; default 0: no streams)",
    )
    p.add_argument(
        "--late-good-ratio",
        type=float,
        default=None,
        help="routing.latency_late_good_ratio for the sidecar (default: the config's)",
    )
    p.add_argument(
        "--transport",
        choices=("asgi", "socket"),
        default=None,
        help="how the client reaches the in-process sidecar (default: asgi without streams,"
        " socket with a stream share, which asgi cannot time)",
    )
    args = p.parse_args()
    if not 0.0 <= args.stream_share <= 1.0:
        p.error("--stream-share must be in [0, 1]")
    if args.transport is None:
        args.transport = "socket" if args.stream_share > 0 else "asgi"
    if args.transport == "asgi" and args.stream_share > 0:
        p.error("--stream-share needs --transport socket (ASGI hands over a stream whole)")
    QUALITY_TARGET = args.quality_target
    LATE_GOOD = args.late_good_ratio
    streams_.live.QUALITY_TARGET = args.quality_target  # the module the stream rules read
    summary = asyncio.run(main_async(args))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
