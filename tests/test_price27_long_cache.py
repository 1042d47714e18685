"""Past `long_context_tokens` Anthropic raises every input-side price by the input's long factor
(Claude Sonnet 4.5 past 200K: input $3 -> $6, cache reads $0.30 -> $0.60, 5-minute writes $3.75
-> $7.50, 1-hour writes $6 -> $12), and its fast mode is a multiple of whichever prices apply
(Claude Opus 4.6: $30 / $150 standard, $60 / $225 past 200K: 6x the long prices)."""

from __future__ import annotations

import pytest

from arbiter.config import ModelSettings
from arbiter.types import Usage

SONNET = ModelSettings(
    "sonnet", "u", 3.0, 15.0, context_window=1_000_000,
    price_cache_read_per_mtok=0.30, price_cache_write_per_mtok=3.75,
    price_cache_write_1h_per_mtok=6.0, long_context_tokens=200_000,
    price_long_in_per_mtok=6.0, price_long_out_per_mtok=22.5,
)  # fmt: skip
OPUS = ModelSettings(
    "opus", "u", 5.0, 25.0, context_window=1_000_000, price_fast_factor=6.0,
    long_context_tokens=200_000, price_long_in_per_mtok=10.0, price_long_out_per_mtok=37.5,
)  # fmt: skip


def test_cache_prices_past_the_threshold_rise_with_the_input_price() -> None:
    # 300K input: 100K uncached, 120K read, 80K written (30K of them to the 1-hour cache)
    got = SONNET.cost_usd(300_000, 1_000, 120_000, 80_000, 30_000)
    want = (100_000 * 6.0 + 120_000 * 0.60 + 50_000 * 7.50 + 30_000 * 12.0 + 1_000 * 22.5) / 1e6
    assert got == pytest.approx(want)
    # under the threshold: the configured cache prices
    short = SONNET.cost_usd(150_000, 1_000, 60_000, 40_000, 10_000)
    assert short == pytest.approx(
        (50_000 * 3.0 + 60_000 * 0.30 + 30_000 * 3.75 + 10_000 * 6.0 + 1_000 * 15.0) / 1e6
    )


def test_unset_one_hour_price_is_twice_the_long_input_price() -> None:
    m = ModelSettings("m", "u", 3.0, 15.0, long_context_tokens=200_000, price_long_in_per_mtok=6.0)
    got = m.cost_usd(300_000, 0, 0, 100_000, 100_000)
    assert got == pytest.approx((200_000 * 6.0 + 100_000 * 12.0) / 1e6)


def test_fast_mode_past_the_threshold_is_its_factor_on_the_long_prices() -> None:
    long_fast = Usage(prompt_tokens=300_000, completion_tokens=1_000, fast=True)
    assert OPUS.usage_cost(long_fast) == pytest.approx((300_000 * 60.0 + 1_000 * 225.0) / 1e6)
    short_fast = Usage(prompt_tokens=100_000, completion_tokens=1_000, fast=True)
    assert OPUS.usage_cost(short_fast) == pytest.approx((100_000 * 30.0 + 1_000 * 150.0) / 1e6)
