"""Each replica's learnt prompt lines (prompt_ratio.py), shared through the store: written at
the policy sync (only the lines that changed), read at start, so a restarted sidecar reserves
its first burst's prompts at the line its predecessors learnt (migration 0066)."""

from __future__ import annotations

from collections.abc import Sequence

from arbiter.store._hooks import StoreHooks

_UPSERT = (
    "INSERT INTO prompt_fits (replica, model, fixed, ratio, updated_ts) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (replica, model) DO UPDATE SET "
    "fixed = EXCLUDED.fixed, ratio = EXCLUDED.ratio, updated_ts = EXCLUDED.updated_ts"
)


class PromptFitsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

    def write_prompt_fits(
        self, replica: str, fits: Sequence[tuple[str, float, float]], ts: float
    ) -> None:
        """This replica's (model, fixed, ratio) lines, each replacing its row (idempotent)."""
        if not fits:
            return
        with self._tx() as cur:
            cur.executemany(
                self._sql(_UPSERT), [(replica, m, fixed, ratio, ts) for m, fixed, ratio in fits]
            )

    def load_prompt_fits(self, since_ts: float = 0.0) -> dict[str, tuple[float, float]]:
        """Per model, the line over every replica's written at or after `since_ts`: the
        largest fixed part and ratio (a line above each of theirs)."""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    "SELECT model, MAX(fixed), MAX(ratio) FROM prompt_fits "
                    "WHERE updated_ts >= %s GROUP BY model"
                ),
                (since_ts,),
            )
            return {str(m): (float(f), float(r)) for m, f, r in cur.fetchall()}
