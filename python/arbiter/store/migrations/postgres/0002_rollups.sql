-- Per-minute rollups per (tenant, model, task): mergeable sums, so replicas add to one row.
-- h00..h17 count requests per latency bucket (edges in store/rollup.py) for percentiles.
-- Rows written before this migration are not backfilled.
CREATE TABLE rollups (
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    minute BIGINT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    baseline_cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_ms_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    grade_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    graded BIGINT NOT NULL DEFAULT 0,
    h00 BIGINT NOT NULL DEFAULT 0,
    h01 BIGINT NOT NULL DEFAULT 0,
    h02 BIGINT NOT NULL DEFAULT 0,
    h03 BIGINT NOT NULL DEFAULT 0,
    h04 BIGINT NOT NULL DEFAULT 0,
    h05 BIGINT NOT NULL DEFAULT 0,
    h06 BIGINT NOT NULL DEFAULT 0,
    h07 BIGINT NOT NULL DEFAULT 0,
    h08 BIGINT NOT NULL DEFAULT 0,
    h09 BIGINT NOT NULL DEFAULT 0,
    h10 BIGINT NOT NULL DEFAULT 0,
    h11 BIGINT NOT NULL DEFAULT 0,
    h12 BIGINT NOT NULL DEFAULT 0,
    h13 BIGINT NOT NULL DEFAULT 0,
    h14 BIGINT NOT NULL DEFAULT 0,
    h15 BIGINT NOT NULL DEFAULT 0,
    h16 BIGINT NOT NULL DEFAULT 0,
    h17 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, minute, model, task)
);
CREATE INDEX rollups_minute ON rollups (minute);
