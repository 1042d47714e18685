"""gc_tuning: the serving process's collector settings (rarer young collections, one freeze of
the warmed-up heap right after a full collection)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from arbiter import gc_tuning


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    threshold = gc.get_threshold()
    monkeypatch.setattr(gc_tuning, "_frozen", False)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        while gc_tuning._freeze_when_warm in gc.callbacks:
            gc.callbacks.remove(gc_tuning._freeze_when_warm)
        gc.unfreeze()  # the test suite keeps collecting what it makes


@pytest.mark.usefixtures("restored")
def test_young_collections_are_rarer_and_the_older_thresholds_kept() -> None:
    _, middle, old = gc.get_threshold()
    gc_tuning.tune_for_serving()
    gc_tuning.tune_for_serving()  # idempotent: one callback
    assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, middle, old)
    assert gc.callbacks.count(gc_tuning._freeze_when_warm) == 1


@pytest.mark.usefixtures("restored")
def test_the_heap_is_frozen_once_after_the_first_full_collection_when_warm() -> None:
    gc.unfreeze()
    gc_tuning.tune_for_serving()  # warm only WARM_S from now
    gc.collect()
    assert gc.get_freeze_count() == 0  # not yet warm: nothing frozen
    gc_tuning.tune_for_serving(now=time.monotonic() - gc_tuning.WARM_S - 1)
    gc.collect(1)
    assert gc.get_freeze_count() == 0  # only after a full collection
    gc.collect()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    keep = [[i] for i in range(1000)]  # new objects, collected as usual from now on
    gc.collect()
    assert gc.get_freeze_count() == frozen  # once only
    assert len(keep) == 1000
