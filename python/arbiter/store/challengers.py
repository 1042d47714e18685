"""Challenger models' status in the store (both backends; SQL with %s placeholders)."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.store._hooks import StoreHooks


class ChallengersMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

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
