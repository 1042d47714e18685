"""The semantic cache on held-out Quora question pairs (../shared/data/cache, read in place; rows
the verifier was never tuned on: arbiter.offline.semantic_eval.part_of(id) == "holdout"): at the
default bound, false hits per hit served stay within it."""

from __future__ import annotations

import pytest

from arbiter.cache.semantic import default_matcher
from arbiter.config import CacheSettings
from arbiter.offline.semantic_eval import TENANT, ask, fill, load_pairs, score_threshold
from tests.shared_data import SHARED, require_shared
from tests.test_semantic_cache import embedder

PAIRS = SHARED / "data" / "cache" / "qqp.dev.jsonl.gz"


@pytest.mark.timeout(600)
def test_held_out_false_hits_stay_within_the_default_bound() -> None:
    require_shared(PAIRS)
    bound = CacheSettings().max_false_hit_rate
    pairs = load_pairs(PAIRS, parts=["holdout"], limit=4000)
    matcher = default_matcher(embedder(), bound)  # the shipped verifier and pair model
    stored = fill(matcher, (p.text_a for p in pairs))
    asked, _ = ask(matcher, pairs, stored)
    score = score_threshold(asked, matcher.threshold(TENANT))
    assert score.asked > 3000
    assert score.false <= bound * score.served, score.as_dict()
