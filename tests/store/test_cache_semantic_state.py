"""The semantic cache's learned per-tenant bounds in the store, on every backend: a wrong hit
shrinks the tenant's scale, a confirmed one lets it recover (never past 1), two replicas on one
store compose what each learned, and a restart keeps it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from arbiter.cache.semantic import CONFIRMED_FACTOR, WRONG_FACTOR, TenantBounds
from arbiter.store import Store


def test_learned_scale_is_shared_by_replicas_and_survives_a_restart(
    open_: Callable[[], Store],
) -> None:
    one, two = TenantBounds(open_()), TenantBounds(open_())
    assert one.scale("t1") == 1.0
    assert one.learn("t1", wrong=True) == pytest.approx(WRONG_FACTOR)
    assert two.learn("t1", wrong=True) == pytest.approx(WRONG_FACTOR**2)  # composes
    assert two.learn("t1", wrong=False) == pytest.approx(WRONG_FACTOR**2 * CONFIRMED_FACTOR)
    one.load()  # the poll: what the other replica learned
    assert one.scale("t1") == pytest.approx(WRONG_FACTOR**2 * CONFIRMED_FACTOR)
    assert one.scale("t2") == 1.0  # per tenant

    restarted = TenantBounds(open_())
    restarted.load()
    assert restarted.scale("t1") == pytest.approx(WRONG_FACTOR**2 * CONFIRMED_FACTOR)


def test_scale_is_clamped(open_: Callable[[], Store]) -> None:
    bounds = TenantBounds(open_())
    assert bounds.learn("t1", wrong=False) == 1.0  # a confirmation never loosens past the bound
    for _ in range(30):
        bounds.learn("t1", wrong=True)
    assert bounds.scale("t1") == pytest.approx(1e-3)
