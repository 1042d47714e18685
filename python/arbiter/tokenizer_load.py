"""The budget tokenizer's tables (o200k, built by the Rust kernel on its first count: ~100-200
ms of CPU) loaded in a thread, never on the event loop.

Built by the first count on the loop, they stalled every request in flight behind the first
one that counted tokens. A sidecar with budget caps starts the load when it starts (`start`, not
awaited: no start-up time is added; without caps the first count starts it, since the tables are
66 MB resident); a count on the loop before the tables are ready gets an upper bound
instead (types.count_tokens: UTF-8 bytes, which no byte-level BPE exceeds; budgets reserve a
little more, never less), and the count_tokens endpoints, whose answer is the count itself,
wait for the tables off the loop (`wait_ready`). Off the loop (a worker thread, a CLI, an
offline tool) a count loads them where it runs, as before.

The tables are a process-wide static of the kernel, so their readiness is one process-wide
flag here (the one piece of module state: it mirrors the kernel's, it configures nothing).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Final

# Longer than the kernel's GIL threshold (rust/py DETACH_BYTES, 8 KiB): the warming count, and
# so the tables' build inside it, runs with the GIL released. A short text would build them
# holding the GIL, and the loop would stall as long as if it had built them itself.
_WARM_TEXT: Final = "the tide rises and falls " * 400


class _Load:
    __slots__ = ("_lock", "_thread", "loaded_in", "ready")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.loaded_in: int | None = None  # the thread ident that built the tables (tests)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self.ready.is_set():
                return
            self._thread = threading.Thread(
                target=self._load, name="arbiter-tokenizer-load", daemon=True
            )
            self._thread.start()

    def _load(self) -> None:
        try:
            from arbiter._native import count_tokens
        except ImportError:  # no kernel: types.count_tokens counts bytes anyway
            pass
        else:
            count_tokens([_WARM_TEXT])
        self.loaded_in = threading.get_ident()
        self.ready.set()


_LOAD = _Load()


def start() -> None:
    """Begin loading the tables in a thread (once per process; returns at once)."""
    _LOAD.start()


def ready() -> bool:
    return _LOAD.ready.is_set()


def on_event_loop() -> bool:
    """Is the caller running on an event loop's thread (where a load would stall it)?"""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def wait_ready() -> None:
    """The tables loaded (the load started if it was not), waited for off the loop."""
    if not ready():
        start()
        await asyncio.to_thread(_LOAD.ready.wait)


def load_now() -> None:
    """The tables loaded before this returns (for a process with no loop to spare it: a test
    session that counts on the loop from its first request, a benchmark)."""
    start()
    _LOAD.ready.wait()


def loaded_in() -> int | None:
    """The ident of the thread whose count built the tables (None: not by this module)."""
    return _LOAD.loaded_in
