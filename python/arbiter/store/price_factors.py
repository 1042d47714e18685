"""The price factors the change detector adopted, per model, in the store (both backends; SQL
with %s placeholders): one row a model, the last written wins (`seq` counts the writes in
commit order, so replicas tell a newer adoption without trusting each other's clocks)."""

from __future__ import annotations

from collections.abc import Iterable

from arbiter.store._hooks import StoreHooks

# (model, factor, price_in, price_out, ts): the factor, the configured prices it multiplies,
# and when the adopting replica's clock says it was adopted
PriceFactorRow = tuple[str, float, float, float, float]


class PriceFactorsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

    def write_price_factors(self, rows: Iterable[PriceFactorRow]) -> None:
        with self._tx() as cur:
            for row in sorted(rows):  # one lock order for every writer
                cur.execute(
                    self._sql(
                        "INSERT INTO price_factors (model, factor, price_in, price_out, ts, seq) "
                        "VALUES (%s, %s, %s, %s, %s, 1) ON CONFLICT (model) DO UPDATE SET "
                        "factor = EXCLUDED.factor, price_in = EXCLUDED.price_in, "
                        "price_out = EXCLUDED.price_out, ts = EXCLUDED.ts, "
                        "seq = price_factors.seq + 1"
                    ),
                    row,
                )

    def price_factors(self) -> dict[str, tuple[PriceFactorRow, int]]:
        """model -> (its row, its seq)."""
        with self._ro() as cur:
            cur.execute("SELECT model, factor, price_in, price_out, ts, seq FROM price_factors")
            rows = cur.fetchall()
        return {
            r[0]: ((r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4])), int(r[5]))
            for r in rows
        }
