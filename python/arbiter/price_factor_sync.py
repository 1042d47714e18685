"""The price factors the change detector adopted, shared through the store (store/
price_factors.py): a factor is learned state like an arm's evidence. Kept only in a process's
registry, a restart priced the model at its configured price again and its next calls alerted
the same change a second time; another replica went on at the old price until its own detector
found the change, and alerted it again.

This replica's adoptions wait here (taken on the loop) for the sync thread, which writes them
and adopts the other replicas' newer ones, under the registry's lock (services.refresh_registry).
A stored factor applies only over the prices it was learned against: one a reload repriced is
the operator's news, not the old factor's; and a replica that reloads those prices later adopts
the factor then."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from arbiter.registry import Registry
from arbiter.store import Store
from arbiter.store.price_factors import PriceFactorRow


class SharedPriceFactors:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the loop queues, the sync thread takes
        self._unsent: dict[str, PriceFactorRow] = {}
        self._seen: dict[str, int] = {}  # model -> the stored row's seq last read

    def adopted(self, registry: Registry, model: str, factor: float) -> None:
        """This replica's detector adopted `factor` for `model`: to be written on the next sync."""
        base = registry.base_price(model)
        if base is None:
            return
        with self._lock:
            self._unsent[model] = (model, factor, base[0], base[1], time.time())

    def sync(
        self, store: Store, registry: Registry, forget: Callable[[str], None]
    ) -> list[tuple[str, float]]:
        """Write this replica's unsent factors, adopt the store's rows written since the last
        read (the caller holds the registry's lock); `forget(model)` for each that moved the
        registry's factor (its detector re-learns, expecting the new level). The (model,
        factor) pairs that moved it."""
        with self._lock:
            unsent, self._unsent = self._unsent, {}
        try:
            if unsent:
                store.write_price_factors(unsent.values())
        except Exception:
            with self._lock:  # sent again next time, unless a newer one came meanwhile
                self._unsent = {**unsent, **self._unsent}
            raise
        moved = []
        for (model, factor, price_in, price_out, _ts), seq in store.price_factors().values():
            if seq <= self._seen.get(model, 0):
                continue
            if registry.base_price(model) != (price_in, price_out):
                # learned against other prices: the operator changed them since, or this
                # replica has yet to reload the file another replica's detector priced over.
                # Not marked read: marked, a replica reloading later never adopted the factor
                # every other one applied (read again each sync until the prices match)
                continue
            self._seen[model] = seq
            if registry.adopt_price_factor(model, factor):  # this replica's own: unchanged
                forget(model)
                moved.append((model, registry.price_factor(model)))
        return moved
