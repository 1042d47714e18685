"""arbiter.offline.semantic_ceiling on synthetic pairs (never the evaluation data)."""

from __future__ import annotations

import numpy as np


def test_the_ceiling_sorts_false_hits_by_whose_text_they_serve() -> None:
    """semantic_ceiling's kinds: own text_a (label 1 / 0), another entry linked to the ask by
    labelled duplicates, another with the same words, any other; and its frontier."""
    from arbiter.offline.semantic_ceiling import Components, frontier, kinds
    from arbiter.offline.semantic_eval import Pair

    pool = ["How do I learn Python?", "What is Python?", "Best way to learn Python", "how to cook"]
    asks = [
        Pair("1", pool[0], "How can I learn Python?", 1),
        Pair("2", pool[1], "What is a python snake?", 0),
        Pair("3", pool[3], "how do i learn python", 0),
        Pair("4", pool[3], "Which way of learning Python?", 1),
        Pair("5", pool[3], "cook how?", 1),
    ]
    comp = Components([*asks, Pair("6", pool[2], "Which way of learning Python?", 1)])
    nearest = np.array([0, 1, 0, 2, 1])
    assert kinds(asks, pool, nearest, comp) == [
        "true", "own_label0", "other_same_words", "other_linked", "other",
    ]  # fmt: skip
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    assert frontier(score, [True, False, False, False, False], dups=2) == {
        "recall_at_20_per_1000": 0.5,
        "false_per_1000_at_25": 0.0,
    }
