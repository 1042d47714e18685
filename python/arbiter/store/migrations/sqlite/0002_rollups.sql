-- Per-minute rollups per (tenant, model, task): mergeable sums, so replicas add to one row.
-- h00..h17 count requests per latency bucket (edges in store/rollup.py) for percentiles.
-- Rows written before this migration are not backfilled.
CREATE TABLE rollups (
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    minute INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    baseline_cost_usd REAL NOT NULL DEFAULT 0,
    latency_ms_sum REAL NOT NULL DEFAULT 0,
    grade_sum REAL NOT NULL DEFAULT 0,
    graded INTEGER NOT NULL DEFAULT 0,
    h00 INTEGER NOT NULL DEFAULT 0,
    h01 INTEGER NOT NULL DEFAULT 0,
    h02 INTEGER NOT NULL DEFAULT 0,
    h03 INTEGER NOT NULL DEFAULT 0,
    h04 INTEGER NOT NULL DEFAULT 0,
    h05 INTEGER NOT NULL DEFAULT 0,
    h06 INTEGER NOT NULL DEFAULT 0,
    h07 INTEGER NOT NULL DEFAULT 0,
    h08 INTEGER NOT NULL DEFAULT 0,
    h09 INTEGER NOT NULL DEFAULT 0,
    h10 INTEGER NOT NULL DEFAULT 0,
    h11 INTEGER NOT NULL DEFAULT 0,
    h12 INTEGER NOT NULL DEFAULT 0,
    h13 INTEGER NOT NULL DEFAULT 0,
    h14 INTEGER NOT NULL DEFAULT 0,
    h15 INTEGER NOT NULL DEFAULT 0,
    h16 INTEGER NOT NULL DEFAULT 0,
    h17 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, minute, model, task)
);
CREATE INDEX rollups_minute ON rollups (minute);
