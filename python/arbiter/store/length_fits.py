"""Each replica's learnt answer-length regressions (output_length.py), shared through the
store: written at the policy sync (only the parts observed since), read at start, so a
restarted sidecar predicts a model's answer length, and so its latency under an SLO, from what
it had learnt (migration 0069). One row per replica and part; a start reads each part's newest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from arbiter.store._hooks import StoreHooks

_UPSERT = (
    "INSERT INTO length_fits (replica, part, state, updated_ts) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (replica, part) DO UPDATE SET "
    "state = EXCLUDED.state, updated_ts = EXCLUDED.updated_ts"
)


class LengthFitsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

    def write_length_fits(
        self, replica: str, parts: Sequence[tuple[str, dict[str, Any]]], ts: float
    ) -> None:
        """This replica's (part, posterior document) rows, each replacing its row."""
        if not parts:
            return
        rows = [(replica, part, orjson.dumps(doc).decode(), ts) for part, doc in parts]
        with self._tx() as cur:
            cur.executemany(self._sql(_UPSERT), rows)

    def load_length_fits(self, since_ts: float = 0.0) -> dict[str, dict[str, Any]]:
        """Per part, the newest replica's document written at or after `since_ts` (a row
        that is not a JSON object is left out: the seed refuses what it cannot read)."""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    "SELECT part, state FROM length_fits WHERE updated_ts >= %s "
                    "ORDER BY part, updated_ts"
                ),
                (since_ts,),
            )
            rows = cur.fetchall()
        out: dict[str, dict[str, Any]] = {}
        for part, state in rows:  # the newest last: it wins
            try:
                doc = orjson.loads(state)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict):
                out[str(part)] = doc
        return out
