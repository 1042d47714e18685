"""The per-request kernels keep the GIL for short inputs.

Releasing the GIL for microseconds of work on the event loop's thread hands it to any thread
waiting for it (the recorder, the policy sync, a to_thread worker); the loop then waits for that
thread's switch interval, or its next OS time slice on a busy core, to get it back: a tail stall
per request (bench/results/scale.md, "Tail under load", fourth session).
How it is seen: with the switch interval at 10 s, a thread that wakes every 0.2 ms can only run
when the calling thread releases the GIL itself; count the calls during which it ran.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from arbiter import _native

CALLS = 20_000


@pytest.fixture
def handoffs() -> Iterator[Callable[[Callable[[], object]], int]]:
    ticks = [0]
    stop = threading.Event()

    def waker() -> None:  # wants the GIL every 0.2 ms, like a busy background thread
        while not stop.is_set():
            time.sleep(0.0002)
            ticks[0] += 1

    def count(f: Callable[[], object]) -> int:
        hits = 0
        for _ in range(CALLS):
            before = ticks[0]
            f()
            hits += ticks[0] != before
        return hits

    old = sys.getswitchinterval()
    sys.setswitchinterval(10.0)  # no forced switch within the test: only a release lets it run
    thread = threading.Thread(target=waker, daemon=True)
    thread.start()
    try:
        time.sleep(0.01)
        yield count
    finally:
        stop.set()
        sys.setswitchinterval(old)
        thread.join()


def test_the_probe_sees_a_call_that_releases_the_gil(
    handoffs: Callable[[Callable[[], object]], int],
) -> None:
    assert handoffs(lambda: time.sleep(0)) > 0  # sleep always releases it


def test_short_prompt_features_keep_the_gil(
    handoffs: Callable[[Callable[[], object]], int],
) -> None:
    assert handoffs(lambda: _native.prompt_features("Say hello.", 64)) == 0


def test_a_choice_over_a_few_arms_keeps_the_gil(
    handoffs: Callable[[Callable[[], object]], int],
) -> None:
    def choose() -> object:
        return _native.choose([2.0] * 3, [1.0] * 3, [1.0, 2.0, 3.0], [0.0] * 3, 2, 0.9, 0.0, 7)

    assert handoffs(choose) == 0


def test_counting_a_short_text_keeps_the_gil(
    handoffs: Callable[[Callable[[], object]], int],
) -> None:
    assert handoffs(lambda: _native.count_tokens(["Say hello."])) == 0
