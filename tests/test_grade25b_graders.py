"""grade25b: two candidates of a kind are a hedge; a place, a description or a hedge word
beside the answer is not another candidate.

grade25 read any two items joined by a comma as an apposition ("Paris, France"), so "Paris,
Lyon" against "Paris" graded 1.0 while "Paris, Lyon, Marseille" graded 1/3. Now an item is a
candidate unless it places the reference (a larger kind of place: a state, country or
continent), describes it ("the capital", "by ..."), hedges the speaker ("I think") or is a
year beside a name; two of a kind are worth 1/2, what guessing between them earns.
"""

from __future__ import annotations

import pytest

from arbiter.apposition import is_candidate, sizes
from arbiter.reference import ReferenceGrader


def _ref(answer: str, reference: str) -> float:
    grade = ReferenceGrader(None).grade(answer, reference)
    assert grade is not None
    return grade.score


@pytest.mark.parametrize(
    ("answer", "reference", "score"),
    [
        # two known places of a kind: a hedge (all 1.0 on grade25)
        ("France, Germany", "France", 0.5),
        ("Texas, Ohio", "Texas", 0.5),
        ("Europe, Asia", "Europe", 0.5),
        # grade27: two cities, or names no list knows, are a hedge again (grade26 read the
        # second as the first's apposition: 1.0, and "Lyon, Paris" 0; bench/apposition_cases.py)
        ("Paris, Lyon", "Paris", 0.5),
        ("Paris, Lyon.", "Paris", 0.5),
        ("The capital is Paris, Lyon.", "Paris", 0.5),
        ("Lyon, Paris", "Paris", 0.5),
        ("Shakespeare, Marlowe", "Shakespeare", 0.5),
        ("Paris, Lyon, France", "Paris", 0.5),
        ("Lyon, Marseille", "Paris", 0.0),
        # one answer, placed, described or hedged (the first two were 1/3 on grade25)
        ("Paris, France, Europe", "Paris", 1.0),
        ("Paris, Texas, USA", "Paris", 1.0),
        ("Paris, France.", "Paris", 1.0),
        ("Austin, TX", "Austin", 1.0),
        ("Georgia, USA", "Georgia", 1.0),  # a state (and a country) placed in a country
        ("France, Europe", "France", 1.0),
        ("Paris, the capital", "Paris", 1.0),
        ("Paris, I think", "Paris", 1.0),
        ("Paris, probably.", "Paris", 1.0),
        ("Eiffel Tower, 1889", "Eiffel Tower", 1.0),
        ("Paris, not Lyon", "Paris", 1.0),
    ],
)
def test_two_of_a_kind_are_a_hedge_and_an_apposition_one_answer(
    answer: str, reference: str, score: float
) -> None:
    assert _ref(answer, reference) == pytest.approx(score)


def test_a_place_places_only_a_smaller_kind() -> None:
    assert sizes("paris") == [1] and sizes("georgia") == [3, 2] and sizes("europe") == [4]
    assert not is_candidate("france", "paris") and is_candidate("germany", "france")
    assert is_candidate("texas", "usa") and not is_candidate("usa", "texas")
    assert is_candidate("lyon", "paris") and not is_candidate("1889", "eiffel tower")
