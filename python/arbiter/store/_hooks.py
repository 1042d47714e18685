"""What every store mixin (accounts, cache entries, challengers, ...) needs from SqlStore: its
transactions and its parameter style. One base, so a new mixin is only its SQL."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor


class StoreHooks:
    def _tx(self) -> AbstractContextManager[Cursor]:
        """A write transaction (SqlStore's backends supply it)."""
        raise NotImplementedError

    def _ro(self) -> AbstractContextManager[Cursor]:
        """A read-only transaction."""
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        """`text` (with %s placeholders) in the backend's parameter style."""
        return text

    def _bound_lock_wait(self, cur: Cursor) -> None:
        """Inside a write transaction on a hot row (a budget window): bound how long it may wait
        for another transaction's lock on it (PostgreSQL; SQLite's busy_timeout bounds it)."""
