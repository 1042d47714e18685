"""Outside probe (sixteenth session): at a bound an operator may set (`max_false_hit_rate = 0.3`)
the semantic cache served "Give me five tips for sleeping better" the stored answer to "Give me
three tips ..." (and 5 for 3 in digits): the learned stages read a changed number as one weak
feature among many. A prompt whose numbers differ from the stored one's is now never a semantic
hit (arbiter.cache.pair_guard); a paraphrase with the same numbers still is, at the same bound
(the control: the semantic side is on and serving). Driven by the official openai SDK."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

LOOSE = "\n[cache]\nenabled = true\nsemantic = true\nmax_false_hit_rate = 0.3\n"
CHANGED = [
    ("Give me three tips for sleeping better", "Give me five tips for sleeping better"),
    ("Give me 3 tips for sleeping better", "Give me 5 tips for sleeping better"),
    ("Convert 100 USD to EUR", "Convert 1000 USD to EUR"),
]
SAME = ("Write a haiku about the sea", "Write a haiku about the ocean")


def test_a_prompt_with_other_numbers_is_never_a_semantic_hit(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=lambda t: t + LOOSE) as sc,
            sdks(sc) as (_, gpt),
        ):

            async def status(text: str) -> str:
                raw = await gpt.chat.completions.with_raw_response.create(
                    model="sim-small", messages=[{"role": "user", "content": text}]
                )
                raw.parse()
                await sc.services.cache.drain()
                return raw.headers["x-arbiter-cache"]

            for stored, _ in [*CHANGED, SAME]:
                assert await status(stored) == "miss", stored
            for stored, asked in CHANGED:
                assert await status(asked) == "miss", (stored, asked)
            assert await status(SAME[1]) == "semantic-hit", "the control: same numbers serve"

    asyncio.run(main())


def test_what_counts_as_other_numbers() -> None:
    from arbiter.cache.pair_guard import numbers_differ

    assert numbers_differ("what is 2+2", "what is 2+3")
    assert numbers_differ("what is 2+2", "what is 2+2+2")  # a multiset, not a set
    assert numbers_differ("what is two plus two", "what is two plus three")
    assert not numbers_differ("What is 17 times 23?", "what is 17 times 23")
    assert not numbers_differ("Which one is better?", "Which is better?")  # `one`: a pronoun
    assert not numbers_differ("How do I learn Python?", "How can I learn Python?")
