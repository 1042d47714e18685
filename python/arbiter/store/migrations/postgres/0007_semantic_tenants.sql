-- The semantic cache's learned state per tenant (arbiter.cache.semantic): wrong semantic hits
-- reported through feedback shrink the tenant's error bound (scale in (0, 1]); hits confirmed
-- right let it recover. Replicas update it in place (scale = scale * factor), so concurrent
-- reports compose, and poll it to share what any of them learned.
CREATE TABLE cache_semantic_tenants (
    tenant TEXT PRIMARY KEY,
    scale DOUBLE PRECISION NOT NULL,
    wrong INTEGER NOT NULL DEFAULT 0,
    confirmed INTEGER NOT NULL DEFAULT 0,
    updated_ts DOUBLE PRECISION NOT NULL
);
