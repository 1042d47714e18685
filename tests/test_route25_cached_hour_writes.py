"""A cached answer whose upstream wrote its prompt to Anthropic's 1-hour cache (route25 item 4):
the entry kept the writes' count but not their split by cache, so a hit's saving priced every
write at the 5-minute price (here the input price: none configured), and a hit's usage no longer
said which cache the writes went to (the live answer's did)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from tests.combo24_rig import PRICES, Rig, rig
from tests.fault_upstream import COMPLETION_TOKENS, PROMPT_TOKENS

IN, OUT = PRICES["an-1"]


@pytest.fixture(scope="module", name="the_rig")
def rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("route25_hour"))) as r:
        yield r


def test_a_hit_of_an_hour_cache_write_is_saved_and_shown_at_the_hours_split(
    the_rig: Rig,
) -> None:
    r = the_rig
    text = "Say hello to the tide. [[fault:an-1=cachewrite1h]] [[cell:route25-hour]]"
    with anthropic.Anthropic(
        base_url=r.sidecar.root_url, api_key=r.keys["cached"], max_retries=0, timeout=20
    ) as an:

        def ask() -> anthropic.APIResponse:  # type: ignore[type-arg]
            return an.messages.with_raw_response.create(
                model="an-1", max_tokens=64, messages=[{"role": "user", "content": text}]
            )

        live = ask()
        assert live.headers["x-arbiter-cache"] == "miss"
        assert live.parse().usage.cache_creation.ephemeral_1h_input_tokens == PROMPT_TOKENS  # type: ignore[union-attr]
        for _ in range(100):  # the entry is written behind the answer
            hit = ask()
            if hit.headers["x-arbiter-cache"] == "hit":
                break
        assert hit.headers["x-arbiter-cache"] == "hit"
    # the hour's writes at 2x the input price (no price configured for them)
    saved = (PROMPT_TOKENS * 2 * IN + COMPLETION_TOKENS * OUT) / 1e6
    assert float(hit.headers["x-arbiter-cache-saved-usd"]) == pytest.approx(saved, rel=1e-6)
    usage = hit.parse().usage
    assert usage.cache_creation_input_tokens == PROMPT_TOKENS
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == PROMPT_TOKENS
    assert usage.cache_creation.ephemeral_5m_input_tokens == 0
