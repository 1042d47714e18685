"""grade27: a hedge, a list or a correction after a short answer is no apposition.

grade26 read any name right after a short answer as its apposition, so "Paris, Lyon" graded
1.0 against Paris; hedges' words hid the name they hedged ("Paris, maybe Lyon": 1.0), and a
correction ("Paris? No, Lyon") or a separator the list did not know ("Paris | Lyon") left
the withdrawn or hedged reference at 1.0. Each case below graded 1.0 on base27. Counts on a
dev/validation split, with controls: bench/apposition_cases.py.
"""

from __future__ import annotations

import pytest

from tests.test_grade25b_graders import _ref


@pytest.mark.parametrize(
    ("answer", "reference", "score"),
    [
        ("Paris, Lyon", "Paris", 0.5),  # two cities: a hedge
        ("Mercury, Venus", "Mercury", 0.5),  # names no list knows: a hedge
        ("Paris, Lyon, France", "Paris", 0.5),
        ("Paris, maybe Lyon", "Paris", 0.5),  # what a hedge's words hedge is offered
        ("Paris, Lyon I think", "Paris", 0.5),
        ("Paris? No, Lyon", "Paris", 0.0),  # withdrawn
        ("Paris. No, Lyon", "Paris", 0.0),
        ("Paris... actually Lyon", "Paris", 0.0),
        ("Paris, wait, Lyon", "Paris", 0.0),
        ("Paris? Lyon?", "Paris", 0.5),
        ("Paris vs Lyon", "Paris", 0.5),
        ("Paris | Lyon", "Paris", 0.5),
        ("Paris — Lyon", "Paris", 0.5),
        ("Paris (Lyon)", "Paris", 0.5),  # brackets set off an apposition, or a hedge
        ("neither Paris nor Lyon", "Paris", 0.0),
    ],
)
def test_a_hedge_or_a_correction_is_no_apposition(
    answer: str, reference: str, score: float
) -> None:
    assert _ref(answer, reference) == pytest.approx(score)


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("Lyon? No, Paris", "Paris"),  # 0 on base27: the correction's answer is the reference
        ("Lyon. Actually, Paris", "Paris"),  # 0 on base27
        # held (1.0 on base27 too): a region, a city placing a landmark, words that are no name
        ("Paris, Île-de-France", "Paris"),
        ("Munich, Bavaria, Germany", "Munich"),
        ("Eiffel Tower, Paris", "Eiffel Tower"),
        ("Paris, no doubt", "Paris"),
        ("Paris, no I'm sure", "Paris"),
        ("Paris, I think", "Paris"),
        ("Paris, certainly not Lyon", "Paris"),
        ("Paris - the capital", "Paris"),
        ("Dr. Smith", "Smith"),
        ("Paris (France)", "Paris"),
        ("Paris (the capital of France).", "Paris"),
        ("Einstein (1879-1955)", "Einstein"),
        ("The answer is (B) Paris", "Paris"),
    ],
)
def test_one_answer_stays_whole(answer: str, reference: str) -> None:
    assert _ref(answer, reference) == 1.0
