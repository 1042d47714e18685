"""The recent decisions whose cost was their upstream's own report (`cost_source = 'upstream'`),
read at start so a restarted sidecar's reservations hold at the markup those reports showed
(cost_ratio.seed): learnt per process, a fresh one held its first burst at the registry's
prices."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.store._hooks import StoreHooks

# the newest decisions looked at: a bounded read at start (an index on ts), whatever the history
RECENT_DECISIONS = 20_000


class ReportedCostsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_ro` and `_sql` hooks."""

    def recent_reported_costs(
        self, decisions: int = RECENT_DECISIONS
    ) -> list[tuple[str, float, int, int, float | None]]:
        """(model, cost, prompt tokens, output tokens, the usage's price or None) of each
        decision answered at its first try and charged its upstream's reported cost among the
        newest `decisions`, oldest first (a failed try's possible bill would be on its cost).
        The usage's price (`usage_cost_usd`, prompt-cache parts at their prices) is None for a
        decision written before it was kept."""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    "SELECT chosen_model, cost_usd, prompt_tokens, completion_tokens, attempts, "
                    "usage_cost_usd "
                    "FROM (SELECT * FROM decisions ORDER BY ts DESC LIMIT %s) recent "
                    "WHERE cost_source = 'upstream' AND status = 'ok' ORDER BY ts"
                ),
                (decisions,),
            )
            rows = cur.fetchall()
        return [
            (str(m), float(c), int(p), int(o), None if u is None else float(u))
            for m, c, p, o, a, u in rows
            if _tries(a) == 1
        ]


def _tries(attempts: Any) -> int:
    """How many tries a stored attempts cell holds (PostgreSQL's jsonb comes as a list)."""
    if isinstance(attempts, (str, bytes)):
        try:
            attempts = orjson.loads(attempts)
        except orjson.JSONDecodeError:
            return 0
    return len(attempts) if isinstance(attempts, list) else 0
