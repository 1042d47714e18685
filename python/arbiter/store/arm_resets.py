"""A detected quality change's evidence reset, once per change whichever replica applies it
(services._changed): the arm's stored sums become the grades since the change, as the first
replica to write it counted them. A reset of the same arm and direction stored in the window
before (another replica detected the same change) is not applied again: as an additive delta
each replica subtracted the evidence from before the change, and two detections left the arm
negative (alpha 100 -> -80), swallowing the next 80 good grades."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import ClassVar

from arbiter.store._hooks import StoreHooks
from arbiter.store.budget_holds import on_store_clock

# (tenant, task, model, direction, alpha, beta, n): the arm's evidence since the change that
# the resetting replica had written (its unsent grades follow as an ordinary delta)
ArmResetRow = tuple[str, str, str, str, float, float, float]


class ArmResetsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_sql` hooks and the arms' sync mark."""

    _SYNC_MARK: ClassVar[str]

    def reset_arms(self, rows: Iterable[ArmResetRow], window_s: float) -> int:
        """Apply each reset unless one of its arm and direction is stored from the `window_s`
        before it (on the store's clock); returns how many were applied. The arm's row is
        marked changed either way, so a replica whose local reset was skipped reads the
        stored one at its next sync."""
        applied = 0
        now, now_params = on_store_clock(self._STORE_NOW, time.time())
        with self._tx() as cur:
            for tenant, task, model, direction, alpha, beta, n in sorted(rows):  # one lock order
                key = (tenant, task, model)
                # one statement: a second writer waits on the first's row lock, then finds it
                cur.execute(
                    self._sql(
                        "INSERT INTO arm_resets (tenant, task, model, direction, ts) "
                        f"VALUES (%s, %s, %s, %s, {now}) "
                        "ON CONFLICT (tenant, task, model, direction) DO UPDATE SET "
                        "ts = EXCLUDED.ts WHERE arm_resets.ts < EXCLUDED.ts - %s"
                    ),
                    (*key, direction, *now_params, window_s),
                )
                if cur.rowcount > 0:
                    applied += 1
                    cur.execute(
                        self._sql(
                            "INSERT INTO arms (tenant, task, model, alpha, beta, n, updated_ts, "
                            f"sync_mark) VALUES (%s, %s, %s, %s, %s, %s, %s, {self._SYNC_MARK}) "
                            "ON CONFLICT (tenant, task, model) DO UPDATE SET "
                            "alpha = EXCLUDED.alpha, beta = EXCLUDED.beta, n = EXCLUDED.n, "
                            "updated_ts = EXCLUDED.updated_ts, sync_mark = EXCLUDED.sync_mark"
                        ),
                        (*key, max(alpha, 0.0), max(beta, 0.0), max(n, 0.0), time.time()),
                    )
                else:
                    cur.execute(
                        self._sql(
                            f"UPDATE arms SET sync_mark = {self._SYNC_MARK} "
                            "WHERE tenant = %s AND task = %s AND model = %s"
                        ),
                        key,
                    )
        return applied
