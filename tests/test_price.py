"""price.cost_usd: the one price formula, and every model class that prices a call uses it."""

from __future__ import annotations

import pytest

from arbiter.config import ModelSettings
from arbiter.offline.outcome_table import ModelSpec
from arbiter.offline.sim.config import CACHE_READ_FACTOR, CACHE_WRITE_FACTOR, ModelProfile
from arbiter.price import cost_usd
from arbiter.routing import PoolModel


def test_the_formula() -> None:
    assert cost_usd(10.0, 30.0, 31, 76) == (31 * 10.0 + 76 * 30.0) / 1e6
    assert cost_usd(2.0, 8.0, 0, 0) == 0.0
    # cache parts of the prompt at their own prices; an unset cache price is the input price
    assert cost_usd(3.0, 15.0, 1000, 10, cache_read=600, cache_read_price=0.3) == pytest.approx(
        (400 * 3.0 + 600 * 0.3 + 10 * 15.0) / 1e6
    )
    assert cost_usd(3.0, 15.0, 1000, 10, cache_read=600, cache_write=400) == cost_usd(
        3.0, 15.0, 1000, 10
    )
    both = cost_usd(
        3.0,
        15.0,
        1000,
        0,
        cache_read=100,
        cache_write=200,
        cache_read_price=0.3,
        cache_write_price=3.75,
    )
    assert both == pytest.approx((700 * 3.0 + 100 * 0.3 + 200 * 3.75) / 1e6)


def test_every_model_class_prices_a_call_the_same_way() -> None:
    expected = cost_usd(0.5, 1.5, 1234, 567)
    settings = ModelSettings("m", "up", 0.5, 1.5)
    assert settings.cost_usd(1234, 567) == expected
    assert PoolModel("m", 0.5, 1.5, 8192, frozenset(), {}).cost_usd(1234, 567) == expected
    assert ModelSpec("m", 0.5, 1.5).cost_usd(1234, 567) == expected
    assert ModelProfile("m", 0.5, 1.5).cost_usd(1234, 567) == expected


def test_cache_prices_of_the_registry_and_the_sim() -> None:
    registry = ModelSettings("c", "up", 3.0, 15.0, price_cache_read_per_mtok=0.3,
                             price_cache_write_per_mtok=3.75)  # fmt: skip
    assert registry.cost_usd(1000, 10, 600, 100) == cost_usd(
        3.0, 15.0, 1000, 10, cache_read=600, cache_write=100, cache_read_price=0.3,
        cache_write_price=3.75,
    )  # fmt: skip
    sim = ModelProfile("c", 3.0, 15.0)
    assert sim.cost_usd(1000, 10, 600, 100) == pytest.approx(
        (300 + 600 * CACHE_READ_FACTOR + 100 * CACHE_WRITE_FACTOR) * 3.0 / 1e6 + 10 * 15.0 / 1e6
    )
