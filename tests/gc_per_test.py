"""A full garbage collection after every test, so a leak fails the test that made it.

A socket (or file) a test leaves unclosed inside a reference cycle is freed only when the cyclic
collector next runs, and its ResourceWarning (an error here: filterwarnings) is pinned on
whichever test is running then. The collector runs when allocations say so, which a loaded
machine moves: a random later test failed, once, and passed on rerun (test_budget_holds: an
unclosed socket freed while an import missed the path cache). Collected at each test's
teardown, the warning lands on the leaking test, every run.

A full collection walks every tracked object: ~0.4 s per test with the suite's modules and the
budget tokenizer's tables loaded. Those survive the whole session, so `freeze_survivors` moves
them out of the collector's sight (gc.freeze), and so does every teardown after its collection:
what a test left alive (modules a later file imports, caches, module fixtures) is walked once,
never again, so each collection walks only what the one test made (frozen once per session,
survivors piled up and a collection grew from ~20 to ~50 ms over a worker's tests). The price:
a cycle that outlives its test and is dropped later is never collected (memory, and no warning
for it); its test's own leaks are still caught at its teardown. A test that unfreezes
(test_gc_tuning) is followed by a re-freeze like any other.
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
    gc.freeze()  # what survived it is out of every later collection's walk
