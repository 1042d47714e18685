"""The semantic side's hook: a Matcher finds a stored entry whose last user turn means the same
as a new one (within the same context key). The response cache calls it; arbiter.cache.semantic
provides the real one. `NullMatcher` never matches (exact cache only).

embed/lookup may be CPU-heavy: the cache calls them off the event loop (`off_loop`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

if TYPE_CHECKING:
    import numpy

_T = TypeVar("_T")


class SemanticMatch(NamedTuple):
    entry_id: str
    similarity: float
    p_false: float


class Matcher(Protocol):
    def embed(self, text: str) -> numpy.ndarray | None:
        """None = not embeddable (empty, binary, huge): the semantic side is bypassed."""
        ...

    def add(
        self,
        tenant: str,
        context_key: str,
        entry_id: str,
        vector: numpy.ndarray,
        text: str | None = None,
    ) -> None:
        """`text`: the entry's last user turn, which a match is verified against."""
        ...

    def lookup(
        self, tenant: str, context_key: str, text: str, vector: numpy.ndarray
    ) -> SemanticMatch | None: ...

    def remove(self, entry_id: str) -> None: ...

    def learn(self, tenant: str, match: SemanticMatch, wrong: bool) -> None:
        """Feedback on a served semantic hit."""
        ...


class NullMatcher:
    """Always a miss: the exact cache alone."""

    def embed(self, text: str) -> numpy.ndarray | None:
        return None

    def add(
        self,
        tenant: str,
        context_key: str,
        entry_id: str,
        vector: numpy.ndarray,
        text: str | None = None,
    ) -> None:
        return None

    def lookup(
        self, tenant: str, context_key: str, text: str, vector: numpy.ndarray
    ) -> SemanticMatch | None:
        return None

    def remove(self, entry_id: str) -> None:
        return None

    def learn(self, tenant: str, match: SemanticMatch, wrong: bool) -> None:
        return None


async def off_loop(fn: Callable[..., _T], *args: object) -> _T:
    """Run a matcher call off the event loop (a thread of the default executor)."""
    return await asyncio.to_thread(fn, *args)
