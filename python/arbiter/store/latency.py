"""The latency model's shared rows (arbiter.latency): each replica upserts its own sums per
(tenant, model) and reads everyone's. Idempotent: a retried write replaces the same rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple, replace

from arbiter.latency_sums import LatencyRow
from arbiter.store._hooks import StoreHooks

_COLS = ("replica, tenant, model, epoch, ref_ts, calls, ttft_w, ttft_s1, ttft_s2, speed_w, "
         "speed_s1, speed_s2, reg_w, reg_n, reg_nn, reg_t, reg_nt, reg_tt, updated_ts, "
         "reg_n3, reg_n4, reg_tn2, reg_tn3, reg_ttn2")  # fmt: skip
_UPSERT = (
    f"INSERT INTO latency_stats ({_COLS}) VALUES ({', '.join(['%s'] * 24)}) "
    "ON CONFLICT (replica, tenant, model) DO UPDATE SET epoch = EXCLUDED.epoch, "
    "ref_ts = EXCLUDED.ref_ts, calls = EXCLUDED.calls, ttft_w = EXCLUDED.ttft_w, "
    "ttft_s1 = EXCLUDED.ttft_s1, ttft_s2 = EXCLUDED.ttft_s2, speed_w = EXCLUDED.speed_w, "
    "speed_s1 = EXCLUDED.speed_s1, speed_s2 = EXCLUDED.speed_s2, reg_w = EXCLUDED.reg_w, "
    "reg_n = EXCLUDED.reg_n, reg_nn = EXCLUDED.reg_nn, reg_t = EXCLUDED.reg_t, "
    "reg_nt = EXCLUDED.reg_nt, reg_tt = EXCLUDED.reg_tt, "
    "updated_ts = EXCLUDED.updated_ts, reg_n3 = EXCLUDED.reg_n3, reg_n4 = EXCLUDED.reg_n4, "
    "reg_tn2 = EXCLUDED.reg_tn2, reg_tn3 = EXCLUDED.reg_tn3, reg_ttn2 = EXCLUDED.reg_ttn2"
)


class LatencyMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

    def write_latency(self, rows: Sequence[LatencyRow]) -> None:
        if not rows:
            return
        with self._tx() as cur:
            cur.executemany(self._sql(_UPSERT), [astuple(r) for r in rows])

    def clock_offset(self, clock: Callable[[], float]) -> float:
        """The store's clock less `clock`'s (seconds; the round trip's midpoint), 0 for a store
        without a clock of its own (SQLite: its processes share one host's)."""
        if self._STORE_NOW is None:
            return 0.0
        before = clock()
        with self._ro() as cur:
            cur.execute(f"SELECT {self._STORE_NOW}")
            row = cur.fetchone()
        after = clock()
        return float(row[0]) - (before + after) / 2 if row else 0.0

    def load_latency(self, since_ts: float = 0.0) -> list[LatencyRow]:
        """Every replica's rows updated at or after `since_ts`."""
        with self._ro() as cur:
            cur.execute(
                self._sql(f"SELECT {_COLS} FROM latency_stats WHERE updated_ts >= %s"), (since_ts,)
            )
            return [LatencyRow(*row) for row in cur.fetchall()]


def shifted(row: LatencyRow, by_s: float) -> LatencyRow:
    """`row` with its times moved `by_s` seconds (onto the store's clock, or back off it): its
    decay reference, when it was written, and its epoch (0: none, kept)."""
    if by_s == 0.0:
        return row
    epoch = row.epoch + by_s if row.epoch > 0 else row.epoch
    return replace(row, epoch=epoch, ref_ts=row.ref_ts + by_s, updated_ts=row.updated_ts + by_s)
