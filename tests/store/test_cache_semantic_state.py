"""The semantic cache's learned per-tenant bounds in the store, on every backend: a wrong hit
shrinks the tenant's scale, a confirmed one lets it recover (never past 1), two replicas on one
store compose what each learned, and a restart keeps it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

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


def test_a_hung_store_never_holds_a_lookup() -> None:
    """The scales are re-read in a background thread: scale() answers from memory while the
    store hangs (the request path must not wait on it), and adopts the value once it answers."""
    release, asked = threading.Event(), threading.Event()

    class HungStore:
        def semantic_scales(self, since: float = 0.0) -> dict[str, float]:
            asked.set()
            release.wait()
            return {"t1": 0.25}

    bounds = TenantBounds(cast(Any, HungStore()))
    assert bounds.scale("t1") == 1.0  # returned while the store is still hanging
    assert asked.wait(10)
    release.set()
    for _ in range(1000):
        if not bounds.polling:
            break
        threading.Event().wait(0.01)
    assert bounds.scale("t1") == 0.25
