"""route25 item 5: the semantic cache served a question about the future the answer to one about
the past ("Who won the 2018 World Cup?" / "Who will win ...?" at bound 0.5), and "Can I drink
alcohol while taking antibiotics?" the answer to "... after ..." at 0.3. pair_guard's `tense`
rule refuses both (bench/semantic_guard_tense.py measures it); a paraphrase is still served.
End to end through a real sidecar and the official SDKs, each trap beside a control pair that
must be served, so each cell fails both ways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from arbiter.cache.pair_guard import differ
from tests.conftest import Sidecar, open_sidecar
from tests.probe24a_rig import cache_status

WORLD_CUP = ("Who won the 2018 World Cup?", "Who will win the 2018 World Cup?")
ALCOHOL = (
    "Can I drink alcohol while taking antibiotics?",
    "Can I drink alcohol after taking antibiotics?",
)
SAME = ("Write a haiku about the sea", "Write a haiku about the ocean")


@pytest.fixture(scope="module")
def loose(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def edit(doc: dict[str, Any]) -> None:  # the loosest bound an operator may set
        doc["cache"] = {"enabled": True, "semantic": True, "max_false_hit_rate": 0.5}

    yield from open_sidecar(tmp_path_factory.mktemp("route25-tense"), sim_url, edit)


@pytest.mark.parametrize(
    ("trap", "limit", "sdk"), [(WORLD_CUP, 600, "openai"), (ALCOHOL, 610, "anthropic")]
)
def test_a_question_is_not_served_the_answer_of_another_tense(
    loose: Sidecar, trap: tuple[str, str], limit: int, sdk: str
) -> None:
    """Each prompt alone in its partition (its own max_tokens): no neighbour decides for it."""
    seen = [
        cache_status(loose, trap[0], limit, sdk),
        cache_status(loose, SAME[0], limit + 1, sdk),
        cache_status(loose, trap[1], limit, sdk),  # before the rule: semantic-hit
        cache_status(loose, SAME[1], limit + 1, sdk),
    ]
    assert seen == ["miss", "miss", "miss", "semantic-hit"]


def test_what_the_tense_rule_calls_another_tense() -> None:
    assert differ(*WORLD_CUP) == "tense"
    assert differ(*ALCOHOL) == "tense"
    assert differ("Did it rain?", "Won't it rain?") == "negation"  # an earlier rule says it first
    assert differ("Should I stretch during a run?", "Should I stretch until a run?") == "tense"
    # the same tense, the same timing, or timing said on one side only: no verdict
    assert differ("Who will win the Cup?", "Which team will win the Cup?") is None
    assert differ("Can I drink while on antibiotics?", "Can I drink when on antibiotics?") is None
    assert differ("Is it ok to stretch after running?", "Should I stretch after running?") is None
    assert differ(*SAME) is None


def test_a_future_differs_from_a_past_not_from_a_present() -> None:
    """cache26: Quora's duplicates differ by "will" as often as its false hits do ("What will
    happen if ..." / "What happens if ...": bench/semantic_tense_refine.py), so a future
    differs only from a past; and "during" says what "while" says."""
    assert differ("What will happen if I stop?", "What happens if I stop?") is None
    assert differ("How will the ban affect India?", "How does the ban affect India?") is None
    assert differ("Why do cats purr while sleeping?", "Why do cats purr during sleep?") is None
    # a past against a future, whichever past word says it, still differs
    assert (
        differ("When did the iPhone 15 come out?", "When will the iPhone 15 come out?") == "tense"
    )
    assert differ("What happened to Bitcoin?", "What will happen to Bitcoin?") == "tense"
    assert differ("Who was the president?", "Who will be the president?") == "tense"
    # a prompt saying both a past and a future decides nothing
    assert differ("Who won last time and who will win next?", "Who will win next?") is None
