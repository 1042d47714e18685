"""The semantic cache's per-tenant learned state in the store (both backends; %s placeholders).

One row per tenant that ever gave feedback on a semantic hit: `scale` multiplies the operator's
error bound for that tenant (arbiter.cache.semantic.TenantBounds). Updates are relative
(`scale = scale * factor`, clamped), so two replicas learning at once both count.
"""

from __future__ import annotations

from arbiter.store._hooks import StoreHooks

MIN_SCALE = 1e-3


class CacheSemanticMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

    def semantic_learn(self, tenant: str, factor: float, wrong: bool, ts: float) -> float:
        """Multiply the tenant's scale by `factor` (clamped to [MIN_SCALE, 1]); the new scale."""
        first = min(1.0, max(MIN_SCALE, factor))
        new = "(cache_semantic_tenants.scale * %s)"
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO cache_semantic_tenants (tenant, scale, wrong, confirmed, "
                    "updated_ts) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant) DO UPDATE SET "
                    f"scale = CASE WHEN {new} > 1.0 THEN 1.0 WHEN {new} < %s THEN %s "
                    f"ELSE {new} END, "
                    "wrong = cache_semantic_tenants.wrong + excluded.wrong, "
                    "confirmed = cache_semantic_tenants.confirmed + excluded.confirmed, "
                    "updated_ts = excluded.updated_ts"
                ),
                (
                    tenant,
                    first,
                    int(wrong),
                    int(not wrong),
                    ts,
                    factor,
                    factor,
                    MIN_SCALE,
                    MIN_SCALE,
                    factor,
                ),
            )
            cur.execute(
                self._sql("SELECT scale FROM cache_semantic_tenants WHERE tenant = %s"), (tenant,)
            )
            row = cur.fetchone()
        return float(row[0]) if row else first

    def semantic_scales(self, since: float = 0.0) -> dict[str, float]:
        """Every tenant's scale updated at or after `since`."""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    "SELECT tenant, scale FROM cache_semantic_tenants WHERE updated_ts >= %s"
                ),
                (since,),
            )
            return {str(t): float(s) for t, s in cur.fetchall()}
