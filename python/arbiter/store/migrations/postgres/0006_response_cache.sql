-- The response cache (arbiter.cache): one row per answer, keyed by its exact-key hash (which
-- covers the tenant, so the id alone is unique). The semantic side reads context_key,
-- user_text (the last user turn) and embedding (float32 bytes; NULL when not embedded).
CREATE TABLE cache_entries (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    context_key TEXT,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    answer TEXT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    decision_id TEXT NOT NULL,
    created_ts DOUBLE PRECISION NOT NULL,
    expires_ts DOUBLE PRECISION NOT NULL,
    used_ts DOUBLE PRECISION NOT NULL,
    hits BIGINT NOT NULL DEFAULT 0,
    user_text TEXT,
    embedding BYTEA
);
CREATE INDEX cache_entries_tenant ON cache_entries (tenant, created_ts);
CREATE INDEX cache_entries_created ON cache_entries (created_ts);
CREATE INDEX cache_entries_used ON cache_entries (used_ts);
CREATE INDEX cache_entries_source ON cache_entries (decision_id);

-- Invalidations (admin delete/purge, feedback) other replicas apply to their in-memory front:
-- an entry id, or every entry of a tenant and/or model created before ts.
CREATE TABLE cache_invalidations (
    id TEXT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    entry_id TEXT,
    tenant TEXT,
    model TEXT
);
CREATE INDEX cache_invalidations_ts ON cache_invalidations (ts);

-- A decision served from the cache: its kind (exact | semantic), what it saved (the source
-- answer's cost) and the entry / source decision / similarity as JSON.
ALTER TABLE decisions ADD COLUMN cache_kind TEXT;
ALTER TABLE decisions ADD COLUMN cache_saved_usd DOUBLE PRECISION;
ALTER TABLE decisions ADD COLUMN cache_info TEXT;
CREATE INDEX decisions_cache ON decisions (tenant, cache_kind) WHERE cache_kind IS NOT NULL;
