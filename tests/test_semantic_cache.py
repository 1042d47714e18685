"""The semantic matcher (arbiter.cache.semantic) on the real local model and the shipped
verifier, with synthetic pairs written here (never the evaluation data): a match only within its
tenant and context key, the error bound held on near-miss questions, feedback tightening a
tenant's bound, prompts that cannot be embedded, removal, and the move to the HNSW index."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest

from arbiter.cache.matcher import SemanticMatch
from arbiter.cache.semantic import HNSW_FROM, MAX_CHARS, SemanticMatcher
from arbiter.cache.verifier import Calibration, Verifier, features, words
from arbiter.embedding import DIM, Embedder, EmbedderUnavailable
from arbiter.offline.semantic_eval import load_pairs
from tests.bench_scripts import load


@functools.cache
def embedder() -> Embedder:
    try:
        return Embedder.load()
    except EmbedderUnavailable as exc:  # `make setup` installs it; a bare checkout may not
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"local model missing in CI: {exc}")
        pytest.skip(f"local model not installed: {exc}")


def matcher(bound: float = 0.02, calibration: Calibration | None = None) -> SemanticMatcher:
    """The shipped verifier; with `calibration`, its weights under another curve (to test the
    mechanics of bounds where the shipped curve would serve nothing)."""
    verifier = Verifier.load()
    if calibration is not None:
        verifier.calibration = calibration
    return SemanticMatcher(embedder(), verifier, bound=bound)


SERVE_BEST = Calibration((1.0,), (0.0,))  # every bound admits every candidate: the best is served


def add(m: SemanticMatcher, tenant: str, ctx: str, entry_id: str, text: str) -> None:
    vec = m.embed(text)
    assert vec is not None
    m.add(tenant, ctx, entry_id, vec, text=text)


def look(m: SemanticMatcher, tenant: str, ctx: str, text: str) -> SemanticMatch | None:
    vec = m.embed(text)
    assert vec is not None
    return m.lookup(tenant, ctx, text, vec)


# Same question, said slightly differently (a cache should serve these) ...
SAME = [
    ("How do I learn Python?", "how do I learn python"),
    ("What is the capital of France?", "What's the capital of France?"),
    ("How can I lose weight fast?", "How can I lose weight quickly?"),
    ("What is the best way to learn guitar?", "What is the best way to learn the guitar?"),
    ("Why is the sky blue?", "Why is the sky blue ?"),
    ("How do I make money online?", "How can I make money online?"),
]
# ... and different questions that look alike (it must not)
NEAR_MISSES = [
    ("How do I learn Python?", "How do I learn Python for data science?"),
    ("What is the capital of France?", "What is the capital of Spain?"),
    ("How many people lived in India in 1990?", "How many people lived in India in 2020?"),
    ("Is coffee good for your health?", "Is coffee not good for your health?"),
    ("How do I learn Java?", "How do I learn Javascript?"),
    ("What is the population of Canada?", "What is the population of Mexico?"),
    ("Who was the first president of the United States?",
     "Who was the second president of the United States?"),
    ("How do I cook rice in a pressure cooker?", "How do I cook pasta in a pressure cooker?"),
    ("What are the side effects of aspirin?", "What are the side effects of ibuprofen?"),
    ("How do I delete my Facebook account?", "How do I delete my Instagram account?"),
    ("What is 15% of 200?", "What is 25% of 200?"),
    ("Why do cats purr?", "Why do dogs bark?"),
]  # fmt: skip


def test_a_match_never_crosses_tenant_or_context() -> None:
    m = matcher(calibration=SERVE_BEST)
    add(m, "t1", "ctx-corn", "e1", "How much water does it need?")
    asked = "How much water does it need ?"
    assert look(m, "t1", "ctx-corn", asked) is not None  # the same question, same context
    assert look(m, "t1", "ctx-wheat", asked) is None  # another conversation: never
    assert look(m, "t2", "ctx-corn", asked) is None  # another tenant: never
    add(m, "t2", "ctx-wheat", "e2", "How much sun does it need?")
    found = look(m, "t1", "ctx-corn", asked)
    assert found is not None and found.entry_id == "e1"


def test_near_misses_are_not_served_at_the_default_bound() -> None:
    """The error bound on synthetic data: at the default bound none of the look-alike
    different questions is served, though most are as close as a static cosine cache's
    threshold would serve."""
    m = matcher(bound=0.02)
    for i, (a, _) in enumerate(SAME + NEAR_MISSES):
        add(m, "t", "c", f"e{i}", a)
    false = [b for _, b in NEAR_MISSES if look(m, "t", "c", b) is not None]
    assert false == []
    cosines = [
        float(np.dot(m.embed(a), m.embed(b)))  # type: ignore[arg-type]
        for a, b in NEAR_MISSES
    ]
    assert sum(c >= 0.8 for c in cosines) >= len(NEAR_MISSES) // 2  # they are close in space


def test_the_bound_orders_what_is_served() -> None:
    """A looser bound serves at least what a tighter one does (the calibration is monotone in
    what it admits), and a bound below every calibrated point serves nothing."""
    cal = Verifier.load().calibration
    thresholds = [cal.threshold(b) for b in (0.001, 0.01, 0.02, 0.05, 0.1)]
    assert thresholds == sorted(thresholds)
    assert cal.threshold(0.0) == -1.0
    assert Calibration((0.1, 0.2), (0.05, 0.5)).threshold(0.01) == -1.0
    assert Calibration((0.1, 0.2, 0.3), (0.5, 0.01, 0.2)).threshold(0.02) == 0.2


def test_wrong_feedback_tightens_the_tenants_bound_only() -> None:
    # a curve where bound 0.1 admits P(false) <= 0.999 and 0.05 only <= 0.3
    m = matcher(bound=0.1, calibration=Calibration((0.3, 0.999), (0.05, 0.1)))
    add(m, "t1", "c", "e1", "How do I learn Python?")
    add(m, "t2", "c", "e1b", "How do I learn Python?")
    before = m.threshold("t1")
    hit = look(m, "t1", "c", "how do I learn python")
    assert before == 0.999 and hit is not None and hit.p_false > 0.3
    m.learn("t1", hit, wrong=True)  # halves t1's bound: 0.05
    assert m.threshold("t1") == 0.3
    assert look(m, "t1", "c", "how do I learn python") is None  # no longer trusted there
    assert look(m, "t2", "c", "how do I learn python") is not None  # another tenant's bound
    assert m.threshold("t2") == before
    for _ in range(3):
        m.learn("t1", hit, wrong=False)  # confirmations recover slowly, never at once
    assert m.threshold("t1") == 0.3


@pytest.mark.parametrize(
    "text", ["", "   \n", "\x00\x01binary\x02", "a" * (MAX_CHARS + 1), "broken \ufffd bytes"]
)
def test_unembeddable_prompts_are_counted_and_bypass(text: str) -> None:
    m = matcher()
    assert m.embed(text) is None
    assert m.counts["unembeddable"] == 1


def test_removed_entries_never_match_and_entries_without_text_are_not_indexed() -> None:
    m = matcher(calibration=SERVE_BEST)
    add(m, "t", "c", "e1", "How do I learn Python?")
    assert look(m, "t", "c", "how do I learn python") is not None
    m.remove("e1")
    assert look(m, "t", "c", "how do I learn python") is None
    vec = m.embed("How do I learn Python?")
    assert vec is not None
    m.add("t", "c", "e2", vec)  # no text: nothing to verify a match against
    assert len(m) == 0 and m.counts["no_text"] == 1


def test_large_partitions_move_to_hnsw_and_still_find_and_forget() -> None:
    m = matcher()
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(HNSW_FROM + 50, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for i, v in enumerate(vecs):
        m.add("t", "c", f"e{i}", v, text=f"question {i}")
    part = m._parts[("t", "c")]
    assert part.hnsw
    for i in (0, 17, HNSW_FROM + 3):
        found = m.candidates("t", "c", vecs[i])
        assert found[0][0] == f"e{i}" and found[0][2] == pytest.approx(1.0, abs=1e-4)
    for i in range(0, HNSW_FROM + 50, 2):  # half removed: compaction renumbers the rest
        m.remove(f"e{i}")
    for i in (1, 17, HNSW_FROM + 3):
        found = m.candidates("t", "c", vecs[i])
        assert found[0][0] == f"e{i}"
    assert all(int(f[0][1:]) % 2 == 1 for f in m.candidates("t", "c", vecs[40]))


def test_features_read_numbers_negations_and_names_without_re() -> None:
    assert words("Don't stop-me now, 2024!") == ["dont", "stop", "me", "now", "2024"]
    x = dict(zip(
        ["numbers", "negation", "names"],
        features("What is 15% of 200 in Paris?", "What is not 25% of 200 in London?", 0.9)[
            [12, 13, 16]
        ],
        strict=True,
    ))  # fmt: skip
    assert x == {"numbers": 1.0, "negation": 1.0, "names": 1.0}


def test_the_bench_scores_a_live_sidecar_on_pairs(tmp_path: Path) -> None:
    """bench/semantic_cache.py end to end on synthetic pairs: filled and asked through the
    in-process sidecar, scored from its headers; no look-alike is served at the default bound."""
    embedder()
    bench = load("semantic_cache")
    path = tmp_path / "pairs.jsonl"
    rows = [(a, b, 1) for a, b in SAME] + [(a, b, 0) for a, b in NEAR_MISSES]
    path.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "text_a": a, "text_b": b, "label": y}) + "\n"
            for i, (a, b, y) in enumerate(rows)
        )
    )
    pairs = load_pairs(path)
    head, _, stored, timed = asyncio.run(bench.live(pairs, 0.02))
    distinct = {a for a, _, _ in rows}  # one entry per distinct text_a
    assert head["asked"] == len(rows) and head["entries"] == len(distinct) == len(stored)
    assert head["false"] == 0
    assert len(timed.miss_ms) == len(timed.miss_crossed) == head["asked"] - head["served"]
