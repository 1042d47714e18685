"""A full garbage collection after every test, so a leak fails the test that made it.

A socket (or file) a test leaves unclosed inside a reference cycle is freed only when the cyclic
collector next runs, and its ResourceWarning (an error here: filterwarnings) is pinned on
whichever test is running then. The collector runs when allocations say so, which a loaded
machine moves: a random later test failed, once, and passed on rerun (test_budget_holds: an
unclosed socket freed while an import missed the path cache). Collected at each test's
teardown, the warning lands on the leaking test, every run.

A full collection walks every tracked object: ~0.4 s per test with the suite's modules and the
budget tokenizer's tables loaded. Those survive the whole session, so `freeze_survivors` moves
them out of the collector's sight once (gc.freeze) and each collection then walks only what the
tests made since: ~20 ms. A test that unfreezes (test_gc_tuning) is followed by a re-freeze.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


def freeze_survivors() -> None:
    """Collect, then freeze what is left: the session's long-lived heap, walked never again."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _collect_garbage_after_the_test() -> Iterator[None]:
    yield
    gc.collect()  # a leaked socket's ResourceWarning: raised now, in this test's teardown
    if gc.get_freeze_count() == 0:  # a test unfroze the heap: keep the collections cheap
        gc.freeze()
