"""The semantic cache on question pairs, through the live in-process sidecar (its ASGI app, the
simulated pool on a loopback thread, a SQLite store), scored as shared/data/cache/README.md says.

Fill: every distinct text_a is sent once (`cache-control: no-cache`, so each is answered by the
upstream and stored even when an earlier one looks alike); its decision id names its answer.
Ask: every text_b; `x-arbiter-cache: semantic-hit` with `x-arbiter-cache-source-decision-id`
says whose answer was served: a true hit when it is the pair's own text_a and the label is 1,
a false hit otherwise. A text_b identical to some stored text_a is the exact cache's hit (right
by construction; Quora's questions recur across pairs): counted apart as `exact`, left out of
the semantic scores.

The sweep over bounds and the control (a static-cosine cache on the same MiniLM vectors: serve
the nearest entry when cosine >= tau) are scored on the same filled matcher. Lookup latency is
the matcher's embed + lookup on each miss, as the cache calls them (off the event loop).
`--scale 10000,100000` times the same on synthetic partitions of that many entries.

    python bench/semantic_cache.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz \
        [--limit N] [--bound 0.02] [--part holdout|all] [--offline] [--scale 10000,100000]

Ends with one JSON line: {"pairs", "bound", "recall", "served_per_1000",
"false_per_1000_served", "false_per_1000_asked", "lookup_p50_ms", "lookup_p99_ms", "entries", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.inproc import InProcess, sidecar_in_process

from arbiter.cache.keys import keys_for
from arbiter.cache.semantic import SemanticMatcher, default_matcher, load_pair_model
from arbiter.embedding import DIM, Embedder
from arbiter.offline.semantic_eval import (
    CONTEXT,
    TENANT,
    Asked,
    Pair,
    Score,
    ask,
    fill,
    load_pairs,
    score_cosine,
    score_threshold,
)
from arbiter.principal import Principal
from arbiter.surfaces.openai_chat import parse_chat_request

BOUNDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
TAUS = (0.80, 0.85, 0.90, 0.95, 0.99)
TIMED_ASKS = 500


def ask_body(text: str) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}]}


def pct(xs: Sequence[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] if s else 0.0


class Timed:
    """Wraps the matcher's embed + lookup to time each miss as the cache calls them."""

    def __init__(self, matcher: SemanticMatcher) -> None:
        self.m = matcher
        self.miss_ms: list[float] = []
        self.miss_crossed: list[bool] = []  # did the pair model read this miss's candidates?
        self._embed_ms = 0.0
        self._embed, self._lookup = matcher.embed, matcher.lookup

        def embed(text: str) -> Any:
            start = time.perf_counter()
            out = self._embed(text)
            self._embed_ms = (time.perf_counter() - start) * 1000
            return out

        def lookup(tenant: str, ctx: str, text: str, vector: Any) -> Any:
            calls = matcher.counts["pair_model_calls"] + matcher.counts["exact_calls"]
            start = time.perf_counter()
            out = self._lookup(tenant, ctx, text, vector)
            if out is None:
                self.miss_ms.append(self._embed_ms + (time.perf_counter() - start) * 1000)
                read = matcher.counts["pair_model_calls"] + matcher.counts["exact_calls"]
                self.miss_crossed.append(read > calls)
            return out

        matcher.embed = embed  # type: ignore[method-assign]
        matcher.lookup = lookup  # type: ignore[method-assign]


async def live(
    pairs: Sequence[Pair], bound: float
) -> tuple[dict[str, Any], SemanticMatcher, dict[str, str], Timed]:
    extra = (
        f"\n[cache]\nenabled = true\nsemantic = true\nmax_false_hit_rate = {bound}\n"
        f"max_entries = {max(100_000, 2 * len(pairs))}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with sidecar_in_process(Path(tmp), edit_config=lambda t: t + extra) as sc:
            return await _live(sc, pairs)


async def _live(
    sc: InProcess, pairs: Sequence[Pair]
) -> tuple[dict[str, Any], SemanticMatcher, dict[str, str], Timed]:
    matcher = sc.services.cache.matcher
    assert isinstance(matcher, SemanticMatcher), "cache.semantic did not build the matcher"
    timed = Timed(matcher)

    async def send(text: str, **headers: str) -> Any:
        r = await sc.client.post(
            "/v1/chat/completions", json=ask_body(text), headers={**sc.auth, **headers}
        )
        assert r.status_code == 200, r.text
        return r

    def entry_key(text: str) -> str:
        body = parse_chat_request(orjson.dumps(ask_body(text))).body
        return keys_for("openai", body, Principal("default")).exact

    source: dict[str, str] = {}  # decision id -> the text_a it answered
    stored: dict[str, str] = {}
    for pair in pairs:
        if pair.text_a in stored.values():
            continue
        r = await send(pair.text_a, **{"cache-control": "no-cache"})
        source[r.headers["x-arbiter-decision-id"]] = pair.text_a
        stored[r.headers["x-arbiter-decision-id"]] = pair.text_a
    await sc.services.cache.drain()
    texts = set(stored.values())
    timed.miss_ms.clear()
    timed.miss_crossed.clear()
    true = false = exact = served = asked = dups = 0
    for pair in pairs:
        if pair.text_b in texts:
            exact += 1
            continue
        asked += 1
        dups += pair.label
        r = await send(pair.text_b)
        status = r.headers["x-arbiter-cache"]
        if status == "miss":  # its answer was stored: forget it, so the pool stays the text_a's
            await sc.services.cache.drain()
            await sc.services.cache.invalidate(entry_key(pair.text_b))
        if status == "semantic-hit":
            served += 1
            right = (
                pair.label == 1
                and source.get(r.headers["x-arbiter-cache-source-decision-id"]) == pair.text_a
            )
            true += right
            false += not right
        elif status == "hit":  # the exact cache on a text never stored: should not happen
            raise AssertionError(f"unexpected exact hit: {pair.text_b!r}")
    score = Score(asked, dups, served, false, true)
    out = {
        **score.as_dict(),
        "exact": exact,
        "entries": len(matcher),
        "bypassed": int(sc.services.cache.counts["semantic_bypass"]),
    }
    ids = {eid: entry.text for eid, entry in matcher._entries.items()}  # the cache's entry ids
    matcher.embed, matcher.lookup = timed._embed, timed._lookup  # type: ignore[method-assign]
    return out, matcher, ids, timed


def offline(
    pairs: Sequence[Pair], bound: float, pair_model: Path | None = None
) -> tuple[dict[str, Any], SemanticMatcher, dict[str, str], Timed, list[Asked]]:
    """The same scoring on the matcher directly (no sidecar); `pair_model`: a candidate
    model file in place of the shipped one."""
    matcher = default_matcher(Embedder.load(), bound)
    if pair_model is not None:
        matcher.pair_model = load_pair_model(matcher.embedder, pair_model)
        assert matcher.pair_model is not None, f"{pair_model} did not load"
    stored = fill(matcher, (p.text_a for p in pairs))
    texts = set(stored.values())
    timed = Timed(matcher)
    for pair in pairs[:TIMED_ASKS]:  # the latency sample (the pair model makes a full pass slow)
        vec = None if pair.text_b in texts else matcher.embed(pair.text_b)
        if vec is not None:
            matcher.lookup(TENANT, CONTEXT, pair.text_b, vec)
    matcher.embed, matcher.lookup = timed._embed, timed._lookup  # type: ignore[method-assign]
    asked, exact = ask(matcher, pairs, stored)
    score = score_threshold(asked, matcher.threshold(TENANT))
    return (
        {
            **score.as_dict(),
            "exact": exact,
            "entries": len(matcher),
            "bypassed": matcher.counts["unembeddable"],
        },
        matcher,
        stored,
        timed,
        asked,
    )


def sweep(matcher: SemanticMatcher, asked: Sequence[Asked]) -> list[dict[str, Any]]:
    name = matcher.decider
    rows = []
    for b in BOUNDS:
        t = matcher.calibration.threshold(b)
        rows.append(
            {
                "cache": name,
                "bound": b,
                "threshold": round(t, 4),
                **score_threshold(asked, t).as_dict(),
            }
        )
        # control: the same number served, chosen at random among the asked (scores shuffled)
        shuffled = [
            replace(a, p_false=p)
            for a, p in zip(
                asked, random.Random(b).sample([a.p_false for a in asked], len(asked)), strict=True
            )
        ]
        rows.append(
            {"cache": "shuffled (control)", "bound": b, **score_threshold(shuffled, t).as_dict()}
        )
    for tau in TAUS:
        rows.append({"cache": "static-cosine", "tau": tau, **score_cosine(asked, tau).as_dict()})
    return rows


def frontier(
    matcher: SemanticMatcher,
    asked: Sequence[Asked],
    pairs: Sequence[Pair],
    stored: dict[str, str],
    tenant: str,
    context: str,
) -> dict[str, Any]:
    """The operating points the goal names, whatever the calibration: the recall reachable at
    <= 20 false per 1,000 served, and the false rate at recall 25%, for the deciding model, the
    verifier alone and the static cosine (controls)."""
    pm, ex = matcher.pair_model, matcher.exact_stage
    rankings: list[tuple[str, Sequence[Any]]] = [("deciding", asked)]
    try:
        if pm is not None and ex is not None:  # the other decider, in the same run
            other = "exact_stage" if matcher.decider == "pair-model" else "pair_model"
            if other == "exact_stage":
                matcher.pair_model = None
            else:
                matcher.exact_stage = None
            rankings.append((other, ask(matcher, pairs, stored, tenant=tenant, context=context)[0]))
        matcher.pair_model = matcher.exact_stage = None
        rankings.append(
            ("verifier", ask(matcher, pairs, stored, tenant=tenant, context=context)[0])
        )
    finally:
        matcher.pair_model, matcher.exact_stage = pm, ex
    cosine = [replace(a, p_false=-a.cosine_top, right=a.cosine_top_right) for a in asked]
    rankings.append(("static_cosine", cosine))
    return {name: operating_points(rows) for name, rows in rankings}


def operating_points(asked: Sequence[Any]) -> dict[str, float]:
    ranked = sorted((a.p_false, a.right) for a in asked if a.p_false <= 1.0)
    dups = sum(a.duplicate for a in asked) or 1
    best_recall, true, false_at_25 = 0.0, 0, None
    for i, (_, right) in enumerate(ranked):
        true += right
        served = i + 1
        if served - true <= 0.02 * served:
            best_recall = true / dups
        if false_at_25 is None and true / dups >= 0.25:
            false_at_25 = 1000.0 * (served - true) / served
    return {
        "recall_at_20_per_1000": round(best_recall, 4),
        "false_per_1000_at_recall_25": round(false_at_25, 1) if false_at_25 is not None else -1.0,
    }


def flat_scans(m: SemanticMatcher, queries: Sequence[Any]) -> tuple[float, float]:
    """The alternative to HNSW at the same size: an exact scan (numpy matmul; faiss IndexFlatIP,
    what a Rust SIMD scan would also be: bound by reading N x 384 floats per query)."""
    import faiss

    part = m._parts[("t", "c")]
    vecs = part.all_vectors()
    faiss.omp_set_num_threads(1)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vecs)
    np_ms, fa_ms = [], []
    for q in queries:
        t0 = time.perf_counter()
        sims = vecs @ q
        np.argpartition(-sims, 4)[:4]
        t1 = time.perf_counter()
        flat.search(q[None, :], 4)
        t2 = time.perf_counter()
        np_ms.append((t1 - t0) * 1000)
        fa_ms.append((t2 - t1) * 1000)
    return round(statistics.median(np_ms), 3), round(statistics.median(fa_ms), 3)


def scale(
    sizes: Sequence[int], pairs: Sequence[Pair], bound: float, n_queries: int = 300
) -> list[dict[str, Any]]:
    """embed + lookup on a miss in one partition of N entries (real vectors of the pool's
    questions, then random unit vectors near them to reach N), at `bound` (a bound whose
    calibration admits nothing skips the lookup: time one where the stages run)."""
    emb = Embedder.load()
    rng = np.random.default_rng(0)
    base = np.stack([emb.embed(p.text_a) for p in pairs[:2000]])
    queries = [p.text_b for p in pairs[:n_queries]]
    out = []
    for n in sizes:
        m = default_matcher(emb, bound)
        start = time.perf_counter()
        chunk = 0
        while chunk < n:
            k = min(len(base), n - chunk)
            noisy = base[:k] + rng.normal(scale=0.08, size=(k, DIM)).astype(np.float32)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            for j in range(k):
                m.add("t", "c", f"e{chunk + j}", noisy[j], text=pairs[j].text_a)
            chunk += k
        build_s = time.perf_counter() - start
        times, embeds = [], []
        for q in queries:
            t0 = time.perf_counter()
            vec = m.embed(q)
            t1 = time.perf_counter()
            assert vec is not None
            m.lookup("t", "c", q, vec)
            times.append((time.perf_counter() - t0) * 1000)
            embeds.append((t1 - t0) * 1000)
        flat_np, flat_faiss = flat_scans(m, [m.embed(q) for q in queries[:50]])
        out.append(
            {
                "entries": n,
                "index": "hnsw" if m._parts[("t", "c")].hnsw else "flat",
                "flat_numpy_p50_ms": flat_np,
                "flat_faiss_p50_ms": flat_faiss,
                "build_s": round(build_s, 1),
                "lookup_p50_ms": round(statistics.median(times), 3),
                "lookup_p99_ms": round(pct(times, 99), 3),
                "embed_p50_ms": round(statistics.median(embeds), 3),
            }
        )
        print(orjson.dumps(out[-1]).decode(), file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--bound", type=float, default=0.02)
    ap.add_argument(
        "--part",
        choices=["all", "holdout"],
        default="all",
        help="holdout: only the rows the verifier was not tuned on "
        "(arbiter.offline.semantic_eval.part_of)",
    )
    ap.add_argument("--offline", action="store_true", help="score the matcher directly")
    ap.add_argument("--pair-model", type=Path, help="with --offline: a candidate model file")
    ap.add_argument("--scale", default="", help="comma-separated partition sizes to time")
    args = ap.parse_args()
    pairs = load_pairs(
        args.pairs, parts=None if args.part == "all" else ["holdout"], limit=args.limit
    )
    start = time.perf_counter()
    if args.offline:
        head, matcher, stored, timed, asked = offline(pairs, args.bound, args.pair_model)
        tenant, context = TENANT, CONTEXT
    else:
        head, matcher, stored, timed = asyncio.run(live(pairs, args.bound))
        tenant, context = next(iter(matcher._parts))
        asked, _ = ask(matcher, pairs, stored, tenant=tenant, context=context)
    ran_s = time.perf_counter() - start
    miss_ms = timed.miss_ms
    crossed = [ms for ms, c in zip(miss_ms, timed.miss_crossed, strict=True) if c]
    cheap = [ms for ms, c in zip(miss_ms, timed.miss_crossed, strict=True) if not c]
    rows = sweep(matcher, asked)
    points = frontier(matcher, asked, pairs, stored, tenant, context)
    print(
        f"{'cache':14} {'bound/tau':>9} {'recall':>7} {'served/1k':>9} "
        f"{'false/1k served':>15} {'false/1k asked':>14}"
    )
    for r in rows:
        knob = r.get("bound", r.get("tau"))
        print(
            f"{r['cache']:14} {knob:>9} {r['recall']:>7.3f} {r['served_per_1000']:>9.1f} "
            f"{r['false_per_1000_served']:>15.1f} {r['false_per_1000_asked']:>14.2f}"
        )
    scaled = (
        scale([int(s) for s in args.scale.split(",") if s], pairs, args.bound) if args.scale else []
    )
    result = {
        "pairs": len(pairs),
        "bound": args.bound,
        "recall": head["recall"],
        "served_per_1000": head["served_per_1000"],
        "false_per_1000_served": head["false_per_1000_served"],
        "false_per_1000_asked": head["false_per_1000_asked"],
        "lookup_p50_ms": round(statistics.median(miss_ms), 3) if miss_ms else None,
        "lookup_p99_ms": round(pct(miss_ms, 99), 3) if miss_ms else None,
        "entries": head["entries"],
        "misses_through_pair_model": len(crossed),
        "misses_cheap_only": len(cheap),
        "lookup_pair_model_p50_ms": round(statistics.median(crossed), 3) if crossed else None,
        "lookup_pair_model_p99_ms": round(pct(crossed, 99), 3) if crossed else None,
        "lookup_cheap_only_p50_ms": round(statistics.median(cheap), 3) if cheap else None,
        "lookup_cheap_only_p99_ms": round(pct(cheap, 99), 3) if cheap else None,
        "load_average": round(os.getloadavg()[0], 1),
        "mode": "offline" if args.offline else "live",
        "part": args.part,
        "asked": head["asked"],
        "exact": head["exact"],
        "served": head["served"],
        "false": head["false"],
        "seconds": round(ran_s, 1),
        "frontier": points,
        "sweep": rows,
        "scale": scaled,
    }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
