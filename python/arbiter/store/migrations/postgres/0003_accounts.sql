-- Client API keys (only a hash of the secret is stored) and budget windows (spend + reservations).
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    secret_hash TEXT NOT NULL,
    created_ts DOUBLE PRECISION NOT NULL,
    expires_ts DOUBLE PRECISION,
    revoked_ts DOUBLE PRECISION
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);
CREATE TABLE budget_usage (
    scope TEXT NOT NULL,
    window_start DOUBLE PRECISION NOT NULL,
    spent_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    reserved_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, window_start)
);
