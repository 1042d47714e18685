"""Outside probe (eighteenth session) of the semantic cache on a live sidecar (`arbiter serve`,
real sockets) in front of a live sim, driven by the official `openai` SDK, at a bound an operator
may set (`max_false_hit_rate = 0.3`; the default 0.02 serves nothing on these or on Quora's pairs).

The exact stage served "Is ibuprofen not safe during pregnancy?" the stored answer to "Is
ibuprofen safe during pregnancy?", a JSON `false` the answer for `true`, and "Convert 5
kilometers to miles" the answer to "Convert 5 miles to kilometers": a negation is one word of ten
and a reordering keeps every word. The hard rules (cache/pair_guard.py) now refuse those as they
refused other numbers; a paraphrase is still served at the same bound (the control: the semantic
side is on and serving). bench/semantic_guard_rules.py measures the rules on trap pairs and on
Quora's holdout rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from arbiter.cache.pair_guard import differ
from tests.conftest import ADMIN_KEY, Sidecar, open_sidecar

TRAPS = [
    ("Is ibuprofen safe during pregnancy?", "Is ibuprofen not safe during pregnancy?"),
    ("Why is Python not fast?", "Why is Python fast?"),
    ('Validate this JSON: {"enabled": true}', 'Validate this JSON: {"enabled": false}'),
    ("Convert 5 miles to kilometers", "Convert 5 kilometers to miles"),
    ("What is 100 Fahrenheit in Celsius?", "What is 100 Celsius in Fahrenheit?"),
]
SAME = ("Write a haiku about the sea", "Write a haiku about the ocean")


@pytest.fixture(scope="module")
def loose(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def edit(doc: dict[str, Any]) -> None:
        doc["cache"] = {"enabled": True, "semantic": True, "max_false_hit_rate": 0.3}

    yield from open_sidecar(tmp_path_factory.mktemp("probe18c-traps"), sim_url, edit)


def test_negations_booleans_and_reordered_words_are_never_a_semantic_hit(loose: Sidecar) -> None:
    with openai.OpenAI(
        base_url=loose.base_url, api_key=ADMIN_KEY, max_retries=0, timeout=60
    ) as gpt:

        def status(text: str) -> str:
            raw = gpt.chat.completions.with_raw_response.create(
                model="sim-small",
                messages=[{"role": "user", "content": text}],
                max_tokens=300,  # its own limit: an answer the sim cuts short is still stored
            )
            raw.parse()
            return raw.headers["x-arbiter-cache"]

        for stored, _ in [*TRAPS, SAME]:
            assert status(stored) == "miss", stored
        served = [(s, a) for s, a in TRAPS if status(a) != "miss"]
        assert served == [], served  # before the fix: four of the five were semantic hits
        assert status(SAME[1]) == "semantic-hit", "the control: a paraphrase is still served"


def test_what_the_rules_call_another_question() -> None:
    assert differ("Is it safe?", "Is it not safe?") == "negation"
    assert differ("Why can't I sleep?", "Why am I not able to sleep?") is None  # one each
    assert differ('{"on": true}', '{"on": false}') == "negation"
    assert differ("Convert 5 miles to km", "Convert 5 km to miles") == "order"
    assert differ("Convert 5 miles to km", "convert 5 miles to km!") is None  # case, punctuation
    assert differ("Give me 3 tips", "Give me 5 tips") == "numbers"
    assert differ("Write a haiku about the sea", "Write a haiku about the ocean") is None
    assert differ("How do I learn Python?", "How can I learn Python?") is None
