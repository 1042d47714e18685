"""The policy sync's queued batches, a bounded number per transaction (state_sync.sync_policy).

Through a store outage the sync takes a batch each interval (up to UNSENT_MAX = 1,000) and
writes them in order once the store is back. Each was a transaction of its own, about ten round
trips each (~7 s for 1,000 on PostgreSQL, the sync thread and a connection held all along:
bench/outage_backlog.py). Here each batch keeps what it was: its id claimed once (a retry of a
batch whose commit landed is skipped, its resets with it), its resets applied before its
deltas, its grades left out on an arm whose stored reset's change began after it was taken
(arm_resets._reset_after's rule), and its arm deltas logged in the bucket of when it was
taken. Within a transaction the batches between two resets go to `arms` as one sum per arm and
to `arm_log` as one row per arm and bucket (additive columns: the same sums), after every arm's
lock is taken in one order (arm_resets._lock_arm): a reset elsewhere waits for the commit."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from arbiter.records import PolicyDelta
from arbiter.store.arm_resets import ArmResetRow, ArmResetsMixin

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor

# (batch id, resets, deltas, taken at: the caller's clock), oldest first
PolicyBatch = tuple[str, list[ArmResetRow], list[PolicyDelta], float]
ArmKey = tuple[str, str, str]


class PolicyBatchesMixin(ArmResetsMixin):
    """Mixed into SqlStore; `_claim_batches` and `_upsert_arms` are its (_sql.py)."""

    _SYNC_MARK: ClassVar[str]

    def write_batches(self, batches: Sequence[PolicyBatch], window_s: float, replica: str) -> int:
        """Write `batches` (oldest first) in one transaction; returns how many were new."""
        if not batches:
            return 0
        keys = sorted(
            {(d.tenant, d.task, d.model) for b in batches for d in b[2]}
            | {(r[0], r[1], r[2]) for b in batches for r in b[1]}
        )
        with self._tx() as cur:
            for key in keys:  # every arm's lock first, in one order (as each writer's)
                self._lock_arm(cur, key)
            fresh = self._claim_batches(cur, [b[0] for b in batches])
            offset = self._store_offset(cur)
            starts = self._reset_starts(cur, keys)
            arms: dict[ArmKey, PolicyDelta] = {}
            logged: dict[tuple[ArmKey, float], list[float]] = {}
            width = self.ARM_LOG_BUCKET_S
            for batch_id, resets, deltas, taken in batches:
                if batch_id not in fresh:
                    continue
                if resets:  # the deltas before it written first, then the reset
                    self._flush(cur, arms, logged, replica)
                    self._reset_in(cur, resets, window_s, replica)
                    starts = self._reset_starts(cur, keys)
                at = taken + offset  # on the store's clock
                bucket = math.floor(at / width) * width
                for d in deltas:
                    key = (d.tenant, d.task, d.model)
                    if starts.get(key, -math.inf) > at:  # graded before a stored change
                        d = replace(d, d_alpha=0.0, d_beta=0.0, d_n=0.0)
                    arms[key] = arms[key].plus(d) if key in arms else d
                    if d.d_alpha or d.d_beta or d.d_n:
                        sums = logged.setdefault((key, bucket), [0.0, 0.0, 0.0])
                        sums[0] += d.d_alpha
                        sums[1] += d.d_beta
                        sums[2] += d.d_n
            self._flush(cur, arms, logged, replica)
        return len(fresh)

    def _flush(
        self,
        cur: Cursor,
        arms: dict[ArmKey, PolicyDelta],
        logged: dict[tuple[ArmKey, float], list[float]],
        replica: str,
    ) -> None:
        """The summed deltas to `arms` and `arm_log` (emptied after)."""
        now = time.time()
        rows = [
            (d.tenant, d.task, d.model, d.d_alpha, d.d_beta, d.d_n, d.d_slope_mean,
             d.d_slope_precision, d.d_slope_center, d.d_slope_seen, d.slope_center0, now)
            for _, d in sorted(arms.items())
        ]  # fmt: skip
        if rows:
            self._upsert_arms(cur, rows)
        if logged:
            cur.executemany(
                self._sql(
                    "INSERT INTO arm_log (tenant, task, model, bucket, replica, alpha, beta, n) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (tenant, task, model, bucket, replica) DO UPDATE SET "
                    "alpha = arm_log.alpha + EXCLUDED.alpha, "
                    "beta = arm_log.beta + EXCLUDED.beta, n = arm_log.n + EXCLUDED.n"
                ),
                [(*key, bucket, replica, *sums) for (key, bucket), sums in sorted(logged.items())],
            )
            self._pruned_arm_log(cur)
        arms.clear()
        logged.clear()

    def _claim_batches(self, cur: Cursor, ids: Sequence[str]) -> set[str]:
        """Record `ids` as applied; returns those not applied before (SqlStore's)."""
        raise NotImplementedError

    def _upsert_arms(self, cur: Cursor, rows: Sequence[tuple[Any, ...]]) -> None:
        """Add `rows` (_ARM_COLS + updated_ts, sorted) to `arms` (SqlStore's)."""
        raise NotImplementedError
