"""A detected quality change's evidence reset, once per change whichever replica applies it
(state_sync.on_change): the arm's stored sums become the grades since the change. A reset of
the same arm and direction whose change was already detected (another replica's detection of
the same change, or a retry) is not applied again: as an additive delta each replica subtracted
the evidence from before the change, and two detections left the arm negative (alpha 100 ->
-80), swallowing the next 80 good grades.

Which resets are one change: each carries when its change began and when it was detected, on
the store's clock; a stored reset whose change was detected before (or as) the new one began
is an earlier change, so the new one applies (a second drop minutes after the first is reset
on every replica: before, one within CHANGE_ONCE_S was taken for the first and reset only
locally); one detected after the new one began is the same change. A detector dates a next
change from its last detection at the earliest (changepoint.GradeDetector._alarm). A replica
whose first grades after the change came after the first detection (little traffic) dates it
later still: its reset, measured from the level the stored one was measured from (nearer that
one's level before than after), is the same change too, unless its level after is past the
stored one's by over half the stored jump: that replica missed the stored change (it was down,
or its detector had not fired) and measured a second one from the level before the first;
before, the store took it for the first, and the replicas that did see the first reset the
second again later (`same_change`).

The grades since the change: the resetting replica's own (its detector counted them) plus what
every other replica wrote since the change began, read from `arm_log` (each replica's deltas in
ARM_LOG_BUCKET_S buckets of the store's clock, kept ARM_LOG_KEEP_S; the bucket the change began
in counts pro rata). Before the log, a reset dropped the grades other replicas had pushed
between the change and the reset with the evidence from before it."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from arbiter.store._hooks import StoreHooks
from arbiter.store.budget_holds import on_store_clock

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor

# (tenant, task, model, direction, alpha, beta, n, started, detected, before, after): the arm's
# evidence since the change that the resetting replica had written (its unsent grades follow
# as an ordinary delta), when the change began (0: not known) and was detected, on the store's
# clock, and the mean grade before and after it
ArmResetRow = tuple[str, str, str, str, float, float, float, float, float, float, float]

ARM_LOG_KEEP_S = 86400.0  # a change begun earlier counts the others' grades of the last day
_ARM_LOCK_SPACE = 2707  # the advisory locks' first key: an arm's reset (_lock_arm)
# (ts, level_before, level_after, levels_ts): a stored reset, as same_change reads it
StoredReset = tuple[float, float | None, float | None, float | None]


def same_change(
    stored: StoredReset | None, started: float, detected: float, levels: tuple[float, float],
    window_s: float,
) -> tuple[bool, float, float]:  # fmt: skip
    """Whether a new reset is the stored one's change (see the module docstring), and if not
    when its change began and the level it left (what the new row stores and its sums count
    from). A change the stored one was detected before (its start not known: `window_s`
    before its detection) or measured from the stored one's level before is the same change,
    unless its level after is past the stored one's by more than half the stored jump: then
    the replica missed the stored change (down, or its detector had not fired) and measured a
    second one from the level before the first; it began after the stored detection at the
    earliest and from the stored level after (a replica that finds it later measures it from
    there, and is not taken for a third change)."""
    before, after = levels
    since = started if started > 0 else detected - window_s
    if stored is None:
        return False, since, before
    ts, s_before, s_after, levels_ts = stored
    if levels_ts != ts or s_before is None or s_after is None:  # an older replica's: no levels
        return ts > since, since, before
    same = ts > since or abs(before - s_before) < abs(before - s_after)
    past = abs(after - s_after) > abs(after - (2 * s_after - s_before))
    if same and past:
        return False, max(since, ts), s_after
    return same, since, before


class ArmResetsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_sql` hooks and the arms' sync mark."""

    _SYNC_MARK: ClassVar[str]
    # the log's resolution: the bucket a change began in counts in proportion to its part after
    # the start (10 s: under ~9,000 rows a day per busy arm and replica)
    ARM_LOG_BUCKET_S: ClassVar[float] = 10.0
    _ARM_LOG_PRUNE_EVERY: ClassVar[int] = 256  # logged writes between two prunes
    backend: str
    _arm_log_writes = 0

    def reset_arms(
        self, rows: Iterable[ArmResetRow], window_s: float, replica: str | None = None
    ) -> int:
        """Apply each reset unless its change was detected already (see the module docstring;
        a change whose start is not known: unless one was stored in the `window_s` before it),
        adding what replicas other than `replica` logged since the change began; returns how
        many were applied. The arm's row is marked changed either way, so a replica whose local
        reset was skipped reads the stored one at its next sync."""
        with self._tx() as cur:
            return self._reset_in(cur, rows, window_s, replica)

    def _reset_in(
        self, cur: Cursor, rows: Iterable[ArmResetRow], window_s: float, replica: str | None
    ) -> int:
        """reset_arms in the caller's transaction."""
        applied = 0
        for row in sorted(rows):  # one lock order
            tenant, task, model, direction, alpha, beta, n, started, detected = row[:9]
            key = (tenant, task, model)
            # a second writer of the arm's reset (or a backlog write: _reset_after) waits
            # here for the first's commit, then reads its row
            self._lock_arm(cur, key)
            cur.execute(
                self._sql(
                    "SELECT ts, level_before, level_after, levels_ts FROM arm_resets "
                    "WHERE tenant = %s AND task = %s AND model = %s AND direction = %s"
                ),
                (*key, direction),
            )
            stored = cur.fetchone()
            same, since, before = same_change(
                None if stored is None else tuple(stored), started, detected,
                (row[9], row[10]), window_s,
            )  # fmt: skip
            if not same:
                started = since if started > 0 else 0.0
                cur.execute(
                    self._sql(
                        "INSERT INTO arm_resets (tenant, task, model, direction, ts, "
                        "level_before, level_after, levels_ts, started) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (tenant, task, model, direction) DO UPDATE SET "
                        "ts = EXCLUDED.ts, level_before = EXCLUDED.level_before, "
                        "level_after = EXCLUDED.level_after, "
                        "levels_ts = EXCLUDED.levels_ts, started = EXCLUDED.started"
                    ),
                    (*key, direction, detected, before, row[10], detected, started or None),
                )
                applied += 1
                if replica is not None and started > 0:
                    others = self._logged_since(cur, key, started, replica)
                    alpha, beta, n = alpha + others[0], beta + others[1], n + others[2]
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

    def _lock_arm(self, cur: Cursor, key: tuple[Any, ...]) -> None:
        """Hold the arm's reset lock to the end of the transaction (PostgreSQL: an advisory
        lock, which also covers an arm with no row yet; SQLite's write transactions are one at
        a time already): a reset and a backlog write's check and write are one step each."""
        if self.backend == "postgres":
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                (_ARM_LOCK_SPACE, "\x1f".join(str(k) for k in key[:3])),
            )

    def _reset_starts(
        self, cur: Cursor, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], float]:
        """When the latest stored reset of each of `keys` (arms) began, on the store's clock
        (arms with none, or only older replicas' resets, left out). The caller holds the arms'
        locks (_lock_arm): a reset committing after this read waits for the caller's commit."""
        out: dict[tuple[str, str, str], float] = {}
        for key in keys:
            cur.execute(
                self._sql(
                    "SELECT MAX(started) FROM arm_resets "
                    "WHERE tenant = %s AND task = %s AND model = %s"
                ),
                key,
            )
            got = cur.fetchone()
            if got is not None and got[0] is not None:
                out[key] = float(got[0])
        return out

    def _store_offset(self, cur: Cursor) -> float:
        """The store's clock less this process's, read now (0 where they are one: SQLite)."""
        if self._STORE_NOW is None:
            return 0.0
        cur.execute(f"SELECT {self._STORE_NOW}")
        return float(cur.fetchone()[0]) - time.time()

    def _reset_after(
        self, cur: Cursor, arms: Sequence[tuple[Any, ...]], at: float
    ) -> set[tuple[str, str, str]]:
        """The arms among `arms` (write_rows' rows) whose stored reset is for a change begun
        after `at` (the caller's clock: when a policy batch was taken): a batch graded before
        the change, held by an outage past the reset. Its grades are from before the change
        the reset dropped, and are not added to the arm (nor logged). Each arm's reset lock is
        taken before the read and held to the write's commit: a reset committing between the
        read and the write added the batch (pre-change grades counted as post-change)."""
        keys = sorted({(str(r[0]), str(r[1]), str(r[2])) for r in arms})
        for key in keys:  # in key order, as every writer of arms: no lock cycles
            self._lock_arm(cur, key)
        graded = [k for k in keys if any(any(r[3:6]) for r in arms if tuple(r[:3]) == k)]
        if not graded:
            return set()
        starts = self._reset_starts(cur, graded)
        when = at + self._store_offset(cur) if starts else 0.0
        return {k for k, started in starts.items() if started > when}

    def _logged_since(
        self, cur: Cursor, key: tuple[str, str, str], since: float, replica: str
    ) -> tuple[float, float, float]:
        """What replicas other than `replica` added to the arm since `since` (store clock).
        The arm's row is locked first (PostgreSQL): a delta whose write holds it commits its
        log row before this reads the log, and one after waits, then adds to the reset."""
        if self.backend == "postgres":
            cur.execute(
                "SELECT 1 FROM arms WHERE tenant = %s AND task = %s AND model = %s FOR UPDATE",
                key,
            )
        width = self.ARM_LOG_BUCKET_S
        cur.execute(
            self._sql(
                "SELECT bucket, alpha, beta, n FROM arm_log WHERE tenant = %s AND task = %s "
                "AND model = %s AND bucket > %s AND replica <> %s"
            ),
            (*key, since - width, replica),
        )
        a = b = n = 0.0
        for bucket, alpha, beta, count in cur.fetchall():
            part = min(1.0, (float(bucket) + width - since) / width)  # the start's bucket
            a, b, n = a + part * alpha, b + part * beta, n + part * count
        return a, b, n

    def _log_arms(
        self, cur: Cursor, replica: str, arms: Sequence[tuple[Any, ...]], at: float | None
    ) -> None:
        """Add a write's arm deltas (write_rows' `arms` rows) to `replica`'s bucket of `at` (when
        the sync took them, on its clock; None: now), in the write's transaction (a retried
        batch is skipped with it); prune now and then. Stamped when written, a backlog a store
        outage held (graded before a change, written after it began) counted as grades since
        the change in another replica's reset."""
        rows = [r for r in arms if any(r[3:6])]  # (a slope-only delta moves no grade)
        if not rows:
            return
        width = self.ARM_LOG_BUCKET_S
        taken = time.time() if at is None else at
        params: list[object]
        if self._STORE_NOW is None:
            bucket, params = "%s", [math.floor(taken / width) * width]
        else:  # moved onto the store's clock as a lease is (the caller's now to `taken`)
            when, when_params = on_store_clock(self._STORE_NOW, taken)
            bucket, params = f"floor({when} / %s) * %s", [*when_params, width, width]
        cur.executemany(
            self._sql(
                "INSERT INTO arm_log (tenant, task, model, bucket, replica, alpha, beta, n) "
                f"VALUES (%s, %s, %s, {bucket}, %s, %s, %s, %s) "
                "ON CONFLICT (tenant, task, model, bucket, replica) DO UPDATE SET "
                "alpha = arm_log.alpha + EXCLUDED.alpha, beta = arm_log.beta + EXCLUDED.beta, "
                "n = arm_log.n + EXCLUDED.n"
            ),
            [(*r[:3], *params, replica, *r[3:6]) for r in rows],
        )
        self._pruned_arm_log(cur)

    def _pruned_arm_log(self, cur: Cursor) -> None:
        """Count a logged write; the first, then each _ARM_LOG_PRUNE_EVERY, prunes the log."""
        self._arm_log_writes += 1
        if (self._arm_log_writes - 1) % self._ARM_LOG_PRUNE_EVERY:
            return
        now, now_params = on_store_clock(self._STORE_NOW, time.time())
        cur.execute(
            self._sql(f"DELETE FROM arm_log WHERE bucket < {now} - %s"),
            (*now_params, ARM_LOG_KEEP_S),
        )
