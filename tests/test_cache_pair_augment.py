"""The pair model trainer's augmentation inside the train part (synthetic pairs, never the
evaluation data): transitive duplicates come only from labelled chains, and a hard negative is
never a question of the ask's own chain nor its own text_a."""

from __future__ import annotations

import random

from arbiter.offline.cache_pair_augment import hard_negatives, transitive_positives
from arbiter.offline.semantic_eval import Pair
from tests.test_semantic_cache import embedder

CHAIN = [
    Pair("p1", "How do I learn Python?", "How can I learn Python?", 1),
    Pair("p2", "How can I learn Python?", "What is the best way to learn Python?", 1),
    Pair("p3", "How do I learn Python fast for data science?", "How do I learn Python?", 0),
    Pair("p4", "How do I cook rice?", "What is the way to cook rice?", 1),
    Pair("p5", "How do I learn Java?", "How can I learn Java quickly?", 1),
]


def test_transitive_duplicates_join_a_labelled_chain_only() -> None:
    got = {frozenset(p) for p in transitive_positives(CHAIN, 5, random.Random(0))}
    assert got == {frozenset(("How do I learn Python?", "What is the best way to learn Python?"))}


def test_hard_negatives_stay_outside_the_asks_chain() -> None:
    chain = {"How do I learn Python?", "How can I learn Python?"}
    chain.add("What is the best way to learn Python?")
    got = hard_negatives(embedder(), CHAIN, 2)
    assert got, "each text_b gets its nearest look-alikes"
    for ask, neg in got:
        assert neg != ask
        assert not (ask in chain and neg in chain), (ask, neg)
        assert (ask, neg) != (
            "How do I learn Python?",
            "How do I learn Python fast for data science?",
        )
