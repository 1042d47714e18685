-- Each replica's latency sums per (tenant, model) (arbiter.latency: forward-decayed moments of
-- log TTFT and log speed, and least-squares sums of non-streaming totals, at ref_ts). One row per replica, replaced on each sync (idempotent);
-- a replica's view is its own sums plus every other replica's row.
CREATE TABLE latency_stats (
    replica TEXT NOT NULL,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    epoch DOUBLE PRECISION NOT NULL,
    ref_ts DOUBLE PRECISION NOT NULL,
    calls DOUBLE PRECISION NOT NULL,
    ttft_w DOUBLE PRECISION NOT NULL,
    ttft_s1 DOUBLE PRECISION NOT NULL,
    ttft_s2 DOUBLE PRECISION NOT NULL,
    speed_w DOUBLE PRECISION NOT NULL,
    speed_s1 DOUBLE PRECISION NOT NULL,
    speed_s2 DOUBLE PRECISION NOT NULL,
    reg_w DOUBLE PRECISION NOT NULL,
    reg_n DOUBLE PRECISION NOT NULL,
    reg_nn DOUBLE PRECISION NOT NULL,
    reg_t DOUBLE PRECISION NOT NULL,
    reg_nt DOUBLE PRECISION NOT NULL,
    reg_tt DOUBLE PRECISION NOT NULL,
    updated_ts DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (replica, tenant, model)
);
