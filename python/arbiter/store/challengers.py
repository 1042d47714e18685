"""Challenger models' status in the store (both backends; SQL with %s placeholders)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor


class ChallengersMixin:
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

    def _tx(self) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _ro(self) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text

    def set_challenger(
        self, model: str, status: str, tasks: list[str], note: str, ts: float
    ) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO challengers (model, status, tasks, note, updated_ts) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (model) DO UPDATE SET "
                    "status = EXCLUDED.status, tasks = EXCLUDED.tasks, note = EXCLUDED.note, "
                    "updated_ts = EXCLUDED.updated_ts"
                ),
                (model, status, orjson.dumps(sorted(set(tasks))).decode(), note, ts),
            )

    def challengers(self) -> dict[str, dict[str, Any]]:
        with self._ro() as cur:
            cur.execute("SELECT model, status, tasks, note, updated_ts FROM challengers")
            rows = cur.fetchall()
        return {
            r[0]: {"status": r[1], "tasks": orjson.loads(r[2]), "note": r[3], "updated_ts": r[4]}
            for r in rows
        }
