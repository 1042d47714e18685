"""Budget caps under concurrency: many concurrent requests from several keys against one cap.

Races: starts a sim pool and N sidecars sharing one store (SQLite file by default, or --store-url
for PostgreSQL), caps global spend at the worth of ~20 requests, fires bounded concurrent bursts,
and checks the recorded spend never passes the cap by more than one request's worst case. Also
sends requests with invalid keys and counts any that reached the upstream.

Scenarios: the requests that used to leak (n > 1, 40 tool schemas, images, CJK text, a cascade
that pays two calls, failover attempts the upstream billed and then failed, LLM judge spend),
each against a fresh cap, with spend counted AT THE UPSTREAM: bench/budget_mock.py bills every
token it generates (all choices, always to the output limit) before it fails. Each scenario's
overshoot is (billed - cap) in units of one request's worst case; the promise is <= 1.
Ends with one JSON line whose `scenarios` lists each one's overshoot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Proc, Sidecar, start_sim
from tests.pg import fresh_database

from arbiter.inherited_socket import fd_args, loopback_listener, port_of
from arbiter.offline.demo import (
    ADMIN_KEY_ENV,
    API_KEY_ENV,
    DEMO_POOL,
    demo_settings,
    sim_config,
)
from arbiter.price import cost_usd
from arbiter.toml_text import to_toml

MAX_TOKENS = 200
PROMPT = "Write a short poem about a lighthouse keeper."  # about 12 tokens
MODEL = "sim-premium"


def worst_case_usd() -> float:
    pin, pout = DEMO_POOL[MODEL][0], DEMO_POOL[MODEL][1]
    prompt_tokens = (len(PROMPT) + 3) // 4 + 4  # the sidecar's estimate: chars/4 + 4 per message
    return cost_usd(pin, pout, prompt_tokens, MAX_TOKENS)


async def typical_cost(sim_url: str) -> float:
    """One request's real cost, asked of the sim directly (the cap is 'worth 20 requests')."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
    }
    async with httpx.AsyncClient(timeout=30, headers={"authorization": "Bearer x"}) as c:
        usage = (await c.post(f"{sim_url}/chat/completions", json=body)).json()["usage"]
    pin, pout = DEMO_POOL[MODEL][0], DEMO_POOL[MODEL][1]
    return cost_usd(pin, pout, usage["prompt_tokens"], usage["completion_tokens"])


async def burst(
    urls: list[str],
    keys: list[str],
    n: int,
    bad: int,
    sim_root: str,
    concurrency: int,
    waves: int,
) -> dict[str, Any]:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
    }
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=400)) as c:
        before = (await c.get(f"{sim_root}/_sim/stats")).json()["models"]

        async def one(i: int, key: str) -> tuple[int, str | None]:
            r = await c.post(
                f"{urls[i % len(urls)]}/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {key}"},
            )
            code = r.json().get("error", {}).get("code") if r.status_code != 200 else None
            return r.status_code, code

        results: list[tuple[int, str | None]] = []
        per_wave = -(-n // waves)
        for w in range(waves):  # a wave at a time, so settled spend frees room for the next
            ids = range(w * per_wave, min((w + 1) * per_wave, n))
            results += await asyncio.gather(*(one(i, keys[i % len(keys)]) for i in ids))
            await asyncio.sleep(0.3)
        results += await asyncio.gather(*(one(i, "arb-000000000000-forged") for i in range(bad)))
        await asyncio.sleep(1.0)  # let settlements land
        after = (await c.get(f"{sim_root}/_sim/stats")).json()["models"]
    upstream = sum(
        after[m]["requests"] - before.get(m, {}).get("requests", 0) for m in after if m != "judge"
    )
    good = results[:n]
    ok = sum(1 for s, _ in good if s == 200)
    refused = [(s, code) for s, code in good if s != 200]
    return {
        "ok": ok,
        "refused": len(refused),
        "refused_with_budget_error": sum(
            1 for s, c in refused if s == 429 and c == "budget_exceeded"
        ),
        "bad_key_401": sum(1 for s, _ in results[n:] if s == 401),
        "reached_upstream_without_valid_key": max(upstream - ok, 0),
    }


def run(
    sidecars: int, store_url: str | None, requests: int, bad: int, concurrency: int, waves: int
) -> dict[str, Any]:
    if store_url:
        with fresh_database(store_url) as url:
            return _run(sidecars, url, requests, bad, concurrency, waves)
    return _run(sidecars, None, requests, bad, concurrency, waves)


def _run(
    sidecars: int, store_url: str | None, requests: int, bad: int, concurrency: int, waves: int
) -> dict[str, Any]:
    worst = worst_case_usd()
    with tempfile.TemporaryDirectory(prefix="arbiter-budget-") as tmp:
        work = Path(tmp)
        env = {**os.environ, API_KEY_ENV: "sim-key", ADMIN_KEY_ENV: "adm-" + os.urandom(8).hex()}
        (work / "sim.toml").write_text(sim_config())
        sim, sim_root = start_sim(work / "sim.toml", env)
        sim_url = f"{sim_root}/v1"
        cap = round(20 * asyncio.run(typical_cost(sim_url)), 6)
        doc = demo_settings(sim_url, work / "arbiter.db")
        doc["routing"]["judge_sample_rate"] = 0.0
        if store_url:
            doc["store"]["url"] = store_url
        doc["budgets"] = {"caps": [{"scope": "global", "limit_usd": cap, "window": "total"}]}
        (work / "arbiter.toml").write_text(to_toml(doc))
        procs = [Sidecar(work / "arbiter.toml", env) for _ in range(sidecars)]
        try:
            for p in procs:
                p.start()
            admin = {"authorization": f"Bearer {env[ADMIN_KEY_ENV]}"}
            keys = [
                httpx.post(
                    f"{procs[0].root_url}/arbiter/admin/keys",
                    headers=admin,
                    json={"tenant": f"t{i % 2}"},
                ).json()["key"]
                for i in range(4)
            ]
            res = asyncio.run(
                burst(
                    [p.base_url for p in procs],
                    keys,
                    requests,
                    bad,
                    sim_url.removesuffix("/v1"),
                    concurrency,
                    waves,
                )
            )
            usage = httpx.get(f"{procs[0].root_url}/arbiter/budgets", headers=admin).json()["data"]
            spent = next(u["spent_usd"] for u in usage if u["scope"] == "global")
        finally:
            for p in procs:
                p.stop()
            sim.stop()
    return {
        "sidecars": sidecars,
        "store": "postgres" if store_url else "sqlite",
        "concurrency": concurrency,
        "waves": waves,
        "requests": requests,
        "cap_usd": cap,
        "spent_usd": round(spent, 8),
        "worst_case_request_usd": round(worst, 8),
        "overshoot_usd": round(max(spent - cap, 0.0), 8),
        **res,
    }


# -- scenarios: spend counted at a mock upstream that bills like a real one -------------------
MOCK_PRICES = {  # per million tokens: in, out
    "mock-cheap": [0.5, 1.5],
    "mock-mid": [2.5, 10.0],
    "mock-dear": [15.0, 60.0],
    "mock-judge": [0.15, 0.6],
}
_CJK = "東京は日本の首都であり、世界最大級の都市圏を持つ。多くの人々が毎日電車で通勤している。" * 40
_TOOLS = [
    {"type": "function", "function": {
        "name": f"lookup_{i}", "description": f"Look up record kind {i} and return its fields.",
        "parameters": {"type": "object", "properties": {
            f"field_{j}": {"type": "string", "description": f"the {j}th filter"} for j in range(8)},
            "required": ["field_0"]}}}
    for i in range(40)
]  # fmt: skip
_IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def _user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


# name -> (request body, extra [routing] lines, mock failure period, share of streams)
SCENARIOS: dict[str, tuple[dict[str, Any], str, int, float]] = {
    "n8": ({"model": "mock-dear", "messages": _user("Name a colour."), "n": 8,
            "max_tokens": 100}, "", 0, 0.0),
    "tools40": ({"model": "mock-dear", "messages": _user("Find order 7."), "tools": _TOOLS,
                 "max_tokens": 50}, "", 0, 0.0),
    "images": ({"model": "mock-dear", "messages": _user([{"type": "text", "text": "Compare."},
                _IMAGE, _IMAGE, _IMAGE]), "max_tokens": 50}, "", 0, 0.0),
    "cjk": ({"model": "mock-dear", "messages": _user(_CJK), "max_tokens": 50}, "", 0, 0.0),
    "cascade": ({"model": "auto", "messages": _user("Tell me something about lighthouses."),
                 "max_tokens": 100},
                'cascade_tasks = ["chat"]\ncascade_first_model = "mock-mid"\n'
                "cascade_min_answer_tokens = { chat = 100000 }", 0, 0.0),
    "failover_billed": ({"model": "mock-dear", "messages": _user("Name a colour."),
                         "max_tokens": 100}, "", 2, 0.5),
    "judge": ({"model": "mock-cheap", "messages": _user("Write a haiku about autumn rain."),
               "max_tokens": 300}, 'judge_model = "mock-dear"\njudge_sample_rate = 1.0', 0, 0.0),
}  # fmt: skip


def scenario_config(mock_url: str, db: Path, cap: float, routing: str) -> str:
    """`routing`: TOML lines added to [routing] (they win over the defaults here)."""
    models = {
        name: {"upstream": "mock", "price_in_per_mtok": pin, "price_out_per_mtok": pout,
               "context_window": 128000,
               "capabilities": ["chat", "json", "json-schema", "tools", "vision"],
               "priors": dict.fromkeys(("chat", "creative"), 0.97 if name == "mock-dear" else 0.2)}
        for name, (pin, pout) in MOCK_PRICES.items()
    }  # fmt: skip
    return to_toml({
        "auth": {"mode": "keys", "admin_key_env": ADMIN_KEY_ENV},
        "server": {"log_level": "warning"},
        "store": {"url": f"sqlite:///{db}"},
        "failover": {"retries_per_model": 2, "backoff_ms": 1, "max_models": 3},
        "budgets": {"judge_scope": "tenant",
                    "caps": [{"scope": "global", "limit_usd": cap, "window": "total"}]},
        "upstreams": {"mock": {"base_url": mock_url, "api_key_env": API_KEY_ENV}},
        "models": models,
        "routing": {"baseline": "mock-dear", "difficulty": False, "explore": 0.0,
                    "quality_target": 0.95, "judge_sample_rate": 0.0, **tomllib.loads(routing)},
    })  # fmt: skip


def worst_case_of(name: str, body: dict[str, Any]) -> float:
    """One request's worst case at the mock's own counts: its prompt and every choice at the
    output limit, at the dearest model it may be sent to; a judged request adds its judge call."""
    mock = load_mock()
    models = ["mock-dear"] if body["model"] == "auto" else [body["model"]]
    pin = max(MOCK_PRICES[m][0] for m in models)
    pout = max(MOCK_PRICES[m][1] for m in models)
    n = body.get("n", 1)
    worst = cost_usd(pin, pout, mock.prompt_tokens(body), n * body["max_tokens"])
    if name == "judge":  # the judge sees the question and the answer, and answers in 200 tokens
        jin, jout = MOCK_PRICES["mock-dear"]
        judge_prompt = mock.prompt_tokens(body) + body["max_tokens"] + 400
        worst += cost_usd(jin, jout, judge_prompt, 200)
    return worst


def load_mock() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "budget_mock", Path(__file__).with_name("budget_mock.py")
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_scenario(
    name: str, requests: int = 40, concurrency: int = 20, cap_worst: float = 8.0
) -> dict[str, Any]:
    """One scenario on a fresh sidecar and a cap of `cap_worst` worst cases; spend is what the
    mock upstream billed."""
    body, routing, fail_every, streams = SCENARIOS[name]
    worst = worst_case_of(name, body)
    cap = round(cap_worst * worst, 8)
    with tempfile.TemporaryDirectory(prefix="arbiter-budget-sc-") as tmp:
        work = Path(tmp)
        env = {**os.environ, API_KEY_ENV: "mock-key", ADMIN_KEY_ENV: "adm-" + os.urandom(8).hex()}
        mock_sock = loopback_listener()
        mock_root = f"http://127.0.0.1:{port_of(mock_sock)}"
        mock = Proc(
            [sys.executable, str(Path(__file__).with_name("budget_mock.py")), *fd_args(mock_sock),
             "--prices", orjson.dumps(MOCK_PRICES).decode()],
            f"{mock_root}/_mock/billed", env, listener=mock_sock,
        ).start()  # fmt: skip
        (work / "arbiter.toml").write_text(
            scenario_config(f"{mock_root}/v1", work / "a.db", cap, routing)
        )
        sidecar = Sidecar(work / "arbiter.toml", env)
        try:
            httpx.post(f"{mock_root}/_mock/reset", json={"fail_every": fail_every})
            sidecar.start()
            admin = {"authorization": f"Bearer {env[ADMIN_KEY_ENV]}"}
            key = httpx.post(f"{sidecar.root_url}/arbiter/admin/keys", headers=admin,
                             json={"tenant": "t0"}).json()["key"]  # fmt: skip
            codes = asyncio.run(
                _scenario_burst(sidecar.base_url, key, body, requests, concurrency, streams)
            )
            time.sleep(2.0 if name == "judge" else 0.5)  # background judge calls and settles
            billed = httpx.get(f"{mock_root}/_mock/billed").json()
            usage = httpx.get(f"{sidecar.root_url}/arbiter/budgets", headers=admin).json()["data"]
            counted = next((u["spent_usd"] for u in usage if u["scope"] == "global"), 0.0)
        finally:
            sidecar.stop()
            mock.stop()
    over = max(billed["billed_usd"] - cap, 0.0)
    return {
        "name": name,
        "cap_usd": cap,
        "worst_case_request_usd": round(worst, 8),
        "billed_at_upstream_usd": round(billed["billed_usd"], 8),
        "counted_by_sidecar_usd": round(counted, 8),
        "upstream_calls": billed["requests"],
        "upstream_failures": billed["failed"],
        "billed_per_model": {m: round(v, 8) for m, v in billed["per_model"].items()},
        "ok": codes.count(200),
        "refused_budget": codes.count(429),
        "other": len(codes) - codes.count(200) - codes.count(429),
        "overshoot_usd": round(over, 8),
        "overshoot_worst_cases": round(over / worst, 4),
    }


async def _scenario_burst(
    url: str, key: str, body: dict[str, Any], n: int, concurrency: int, streams: float
) -> list[int]:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, headers={"authorization": f"Bearer {key}"}) as c:

        async def one(i: int) -> int:
            stream = i < n * streams and i % 2 == 0
            async with sem:
                if not stream:
                    return (await c.post(f"{url}/chat/completions", json=body)).status_code
                async with c.stream(
                    "POST", f"{url}/chat/completions", json={**body, "stream": True}
                ) as r:
                    await r.aread()
                    return r.status_code

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def tokenizer_speed(repeats: int = 20) -> list[dict[str, Any]]:
    """The real tokenizer (Rust, o200k) against the chars/4 estimate it replaced for budgets: time
    per call and the counts, on English prose, CJK text and JSON tool schemas."""
    from arbiter.types import count_tokens, estimate_tokens

    texts = {
        "english": PROMPT + " The keeper climbs the stairs at dusk to light the lamp. ",
        "cjk": _CJK[:60],
        "json_tools": orjson.dumps(_TOOLS[:2]).decode(),
    }
    out = []
    for kind, unit in texts.items():
        for size in (1_000, 16_000, 256_000):
            text = (unit * (size // len(unit) + 1))[:size]
            count_tokens([text])  # the tables load once per process
            t0 = time.perf_counter()
            for _ in range(repeats):
                real = count_tokens([text])
            t1 = time.perf_counter()
            for _ in range(repeats):
                est = estimate_tokens(text)
            t2 = time.perf_counter()
            out.append({
                "text": kind, "chars": size, "tokens": real, "chars_over_4": est,
                "tokenizer_us": round((t1 - t0) / repeats * 1e6, 1),
                "chars_over_4_us": round((t2 - t1) / repeats * 1e6, 2),
            })  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--bad-key-requests", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=200, help="requests in flight at once")
    ap.add_argument("--scenario-requests", type=int, default=40)
    ap.add_argument("--only-scenarios", action="store_true", help="skip the plain races")
    ap.add_argument(
        "--store-url",
        default=os.environ.get("ARBITER_BENCH_PG_URL"),
        help="postgresql://... to also run two sidecars on PostgreSQL",
    )
    args = ap.parse_args()
    n, bad, c = args.requests, args.bad_key_requests, args.concurrency
    runs: list[dict[str, Any]] = []
    if not args.only_scenarios:
        runs = [run(1, None, n, bad, c, 1), run(2, None, n, bad, c, 1), run(2, None, n, bad, c, 8)]
    if args.store_url and not args.only_scenarios:
        runs += [run(2, args.store_url, n, bad, c, 1), run(2, args.store_url, n, bad, c, 8)]
    for r in runs:
        print(
            f"{r['sidecars']} sidecar(s) on {r['store']:<8} waves={r['waves']}: "
            f"{r['ok']} served, {r['refused']} "
            f"refused ({r['refused_with_budget_error']} with budget_exceeded), spent "
            f"${r['spent_usd']:.6f} of ${r['cap_usd']:.6f} (worst case/request "
            f"${r['worst_case_request_usd']:.6f}, overshoot ${r['overshoot_usd']:.6f}), "
            f"bad keys reaching upstream: {r['reached_upstream_without_valid_key']}"
        )
    scenarios = [run_scenario(name, args.scenario_requests) for name in SCENARIOS]
    for sc in scenarios:
        print(
            f"{sc['name']:<16} cap ${sc['cap_usd']:.6f}: billed at upstream "
            f"${sc['billed_at_upstream_usd']:.6f} "
            f"(sidecar counted ${sc['counted_by_sidecar_usd']:.6f}), "
            f"{sc['ok']} served, {sc['refused_budget']} refused, {sc['other']} other, "
            f"{sc['upstream_calls']} upstream calls ({sc['upstream_failures']} failed), "
            f"overshoot {sc['overshoot_worst_cases']:.3f} worst cases"
        )
    speed = tokenizer_speed()
    for t in speed:
        print(
            f"tokens {t['text']:<10} {t['chars']:>7} chars: {t['tokens']:>6} tokens in "
            f"{t['tokenizer_us']:>8} us (chars/4 said {t['chars_over_4']} in "
            f"{t['chars_over_4_us']} us)"
        )
    final = dict(runs[-1]) if runs else {}
    final["tokenizer"] = speed
    final["races"] = runs
    final["scenarios"] = [
        {"name": f"race-{r['sidecars']}x{r['store']}-w{r['waves']}",
         "overshoot_worst_cases": round(r["overshoot_usd"] / r["worst_case_request_usd"], 4)}
        for r in runs
    ] + scenarios  # fmt: skip
    print(orjson.dumps(final).decode())
    ok = all(sc["overshoot_worst_cases"] <= 1.0 for sc in scenarios) and all(
        r["overshoot_usd"] <= r["worst_case_request_usd"]
        and r["refused"] == r["refused_with_budget_error"]
        and r["reached_upstream_without_valid_key"] == 0
        for r in runs
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
