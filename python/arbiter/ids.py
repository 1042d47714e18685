"""Decision and request ids."""

from __future__ import annotations

import itertools
import os
from typing import TypeGuard


class DecisionIds:
    """Unique ids without a syscall per request: a random per-process prefix plus a counter.
    (os.urandom releases the GIL on every call, handing it to the recorder thread and stalling
    the event loop for up to a switch interval: visible in the p99.)"""

    def __init__(self, kind: str = "dec") -> None:
        self._prefix = f"{kind}_" + os.urandom(8).hex()
        self._next = itertools.count(int.from_bytes(os.urandom(3)))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._next):08x}"

    def of_another_process(self, value: str) -> bool:
        """Whether `value` has the shape of this kind's ids (the kind, 16 hex digits of a
        process's prefix, a hex counter) and another process's prefix: a replica or worker
        that may not have written it yet."""
        head = len(self._prefix)
        return (
            len(value) >= head + 8
            and value[: head - 16] == self._prefix[: head - 16]
            and value[:head] != self._prefix
            and len(value) <= head + 16
            and _hex(value[head - 16 :])
        )


def _hex(text: str) -> bool:
    return text.isascii() and all(c in "0123456789abcdef" for c in text)


def named(value: object) -> TypeGuard[str]:
    """Whether an upstream's answer (or a stream's first event) carries an id a client can use:
    a non-empty string. Relayed as it came, an empty or missing one reached the client as
    `"id": ""` (the SDKs key a completion or message by it); the decision's is given instead."""
    return isinstance(value, str) and bool(value)
