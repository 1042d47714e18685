"""grade26: an apposition is read whatever the place (no list needs to hold it).

grade25b read an item after the answer as a place only when its lexicon held it: "Paris,
Ile-de-France" (a region it does not list) graded 0.5, as a hedge between two names. Now a list
joined by commas alone is one name and what follows it when the item right after the head is
any name and every later one a known larger place, a description or a hedge: the head is the
answer, so a qualifier earns nothing of its own ("Lyon, Paris" states Lyon) and listing a
second guess after the head games no 1/k. Two known places of a kind stay a hedge; a list of
three names no list knows ("Paris, Lyon, Marseille") stays 1/3; "or", "and", "/" lists as before.
Cases and false-accept counts on a dev/validation split: bench/apposition_cases.py.
"""

from __future__ import annotations

import pytest

from arbiter.apposition import apposition_chain
from tests.test_grade25b_graders import _ref


@pytest.mark.parametrize(
    ("answer", "reference", "score"),
    [
        # 0.5 on base26 (the first four): an apposition no list holds
        ("Paris, Île-de-France", "Paris", 1.0),
        ("Munich, Bavaria, Germany", "Munich", 1.0),
        ("Chengdu, Sichuan", "Chengdu", 1.0),
        ("Paris, France", "France", 1.0),  # the reference places the head: what was asked
        ("Lyon, Paris", "Paris", 0.5),  # two cities: a hedge (grade27; 0 on grade26)
        ("New York, NY", "New York", 1.0),  # 0.5 on base26: its own initials, no second state
        ("New York, New Jersey", "New York", 0.5),  # two known states: a hedge (held)
        # held
        ("Springfield, Illinois", "Springfield", 1.0),
        ("Paris, Lyon, Marseille", "Paris", 1 / 3),
        ("Paris, Lyon or Marseille", "Paris", 1 / 3),
        ("Paris or Lyon", "Paris", 0.5),
        ("France, Germany", "France", 0.5),
        ("Lyon, France", "Paris", 0.0),
    ],
)
def test_an_apposition_is_read_whatever_the_place(
    answer: str, reference: str, score: float
) -> None:
    assert _ref(answer, reference) == pytest.approx(score)


def test_a_chain_states_its_head_and_the_known_places_only() -> None:
    assert apposition_chain(["paris", "ile de france", "france"]) == [
        "paris",
        "ile de france",
        "france",
    ]
    assert apposition_chain(["paris", "lyon"]) is None  # grade27: two cities are a hedge
    assert apposition_chain(["paris", "lyon", "marseille"]) is None
    assert apposition_chain(["france", "germany"]) is None
    assert apposition_chain(["paris"]) is None
