"""What every store mixin (accounts, cache entries, challengers, ...) needs from SqlStore: its
transactions and its parameter style. One base, so a new mixin is only its SQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor

# At most this long for another transaction's (or process's) lock on a budget row: past it the
# budget goes on from the replica's outage allowance (budget.py) rather than hang the request.
BUDGET_LOCK_WAIT_MS = 2000


class StoreHooks:
    # A capped request's reserve and settle as one statement each (budget_one_statement.py):
    # PostgreSQL, where each statement is a round trip; SQLite runs in-process and keeps its own.
    _BUDGET_ONE_STATEMENT: ClassVar[bool] = False
    # the store's clock in epoch seconds, as SQL, for times several hosts compare (budget
    # leases: budget_holds.on_store_clock); None: the caller's (SQLite: one host, one clock)
    _STORE_NOW: ClassVar[str | None] = None

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

    @contextmanager
    def _budget_tx(self) -> Iterator[Cursor]:
        """A write transaction on budget rows, waiting at most BUDGET_LOCK_WAIT_MS for a lock."""
        with self._tx() as cur:
            self._bound_lock_wait(cur)
            yield cur

    @contextmanager
    def _budget_statements(
        self, statements: Sequence[tuple[str, Sequence[object]]], *, commit: bool
    ) -> Iterator[Cursor]:
        """A budget transaction running `statements` (%s placeholders) in order; yields the
        cursor of the last, its result ready to read. With `commit` the transaction has
        committed with them (PostgreSQL: in the same round trip); else it commits when the block
        ends, or rolls back when the block raises (a refused reserve)."""
        with self._budget_tx() as cur:
            for sql, params in statements:
                cur.execute(self._sql(sql), params)
            yield cur
