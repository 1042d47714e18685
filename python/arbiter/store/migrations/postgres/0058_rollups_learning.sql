-- The timeseries' learning series (store/learning_series.py): Arbiter's own calls to learn
-- (decisions of mode shadow, probe or judge: records.LEARNING_MODES) per minute (span 60) and
-- per hour (span 3600), keyed by tenant, model, task and mode, as /arbiter/stats' `learning`
-- block counts them over all history. Kept by the writer's transaction (store/rollup.py plan())
-- from this version on. A new table only: replicas still on the code before it (a rolling
-- upgrade) neither read nor write it, and their writes to every other table are unchanged; the
-- learning calls they record meanwhile are missing from this series (README). Backfill: from
-- the raw decisions and each one's best grade (the CASE over graders mirrors
-- records.GRADER_PRECEDENCE at this version); calls whose raw rows retention already dropped
-- cannot be backfilled.
CREATE TABLE rollups_learning (
    span BIGINT NOT NULL,
    start BIGINT NOT NULL,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    mode TEXT NOT NULL,
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
    PRIMARY KEY (span, start, tenant, model, task, mode)
);
-- a tenant's series reads its own rows, not every tenant's in the window
CREATE INDEX rollups_learning_tenant ON rollups_learning (tenant, span, start);
CREATE TEMP TABLE m0058_learning AS
SELECT d.tenant AS tenant, d.chosen_model AS model, d.task AS task, d.mode AS mode,
    CAST(FLOOR(d.ts / 60) AS BIGINT) * 60 AS minute,
    1 AS requests,
    CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END AS failed,
    d.cost_usd AS cost_usd, d.baseline_cost_usd AS baseline_cost_usd,
    d.latency_ms AS latency_ms_sum,
    COALESCE(g.score, 0) AS grade_sum,
    CASE WHEN g.score IS NULL THEN 0 ELSE 1 END AS graded,
    CASE WHEN d.latency_ms < 25 THEN 1 ELSE 0 END AS h00,
    CASE WHEN d.latency_ms >= 25 AND d.latency_ms < 50 THEN 1 ELSE 0 END AS h01,
    CASE WHEN d.latency_ms >= 50 AND d.latency_ms < 100 THEN 1 ELSE 0 END AS h02,
    CASE WHEN d.latency_ms >= 100 AND d.latency_ms < 200 THEN 1 ELSE 0 END AS h03,
    CASE WHEN d.latency_ms >= 200 AND d.latency_ms < 300 THEN 1 ELSE 0 END AS h04,
    CASE WHEN d.latency_ms >= 300 AND d.latency_ms < 500 THEN 1 ELSE 0 END AS h05,
    CASE WHEN d.latency_ms >= 500 AND d.latency_ms < 750 THEN 1 ELSE 0 END AS h06,
    CASE WHEN d.latency_ms >= 750 AND d.latency_ms < 1000 THEN 1 ELSE 0 END AS h07,
    CASE WHEN d.latency_ms >= 1000 AND d.latency_ms < 1500 THEN 1 ELSE 0 END AS h08,
    CASE WHEN d.latency_ms >= 1500 AND d.latency_ms < 2000 THEN 1 ELSE 0 END AS h09,
    CASE WHEN d.latency_ms >= 2000 AND d.latency_ms < 3000 THEN 1 ELSE 0 END AS h10,
    CASE WHEN d.latency_ms >= 3000 AND d.latency_ms < 5000 THEN 1 ELSE 0 END AS h11,
    CASE WHEN d.latency_ms >= 5000 AND d.latency_ms < 7500 THEN 1 ELSE 0 END AS h12,
    CASE WHEN d.latency_ms >= 7500 AND d.latency_ms < 10000 THEN 1 ELSE 0 END AS h13,
    CASE WHEN d.latency_ms >= 10000 AND d.latency_ms < 20000 THEN 1 ELSE 0 END AS h14,
    CASE WHEN d.latency_ms >= 20000 AND d.latency_ms < 30000 THEN 1 ELSE 0 END AS h15,
    CASE WHEN d.latency_ms >= 30000 AND d.latency_ms < 60000 THEN 1 ELSE 0 END AS h16,
    CASE WHEN d.latency_ms >= 60000 THEN 1 ELSE 0 END AS h17
FROM decisions d LEFT JOIN (
    SELECT decision_id, score FROM (
        SELECT decision_id, score, ROW_NUMBER() OVER (
            PARTITION BY decision_id ORDER BY (CASE grader WHEN 'judge' THEN 1 WHEN 'auto' THEN 2 WHEN 'reference' THEN 3 WHEN 'execution' THEN 4 WHEN 'feedback' THEN 5 ELSE 0 END) DESC) AS rn
        FROM grades) r
    WHERE rn = 1) g ON g.decision_id = d.id
WHERE d.mode IN ('shadow', 'probe', 'judge');
INSERT INTO rollups_learning (span, start, tenant, model, task, mode, requests, failed, cost_usd, baseline_cost_usd, latency_ms_sum, grade_sum, graded, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17)
SELECT 60, minute, tenant, model, task, mode, SUM(requests), SUM(failed), SUM(cost_usd), SUM(baseline_cost_usd), SUM(latency_ms_sum), SUM(grade_sum), SUM(graded), SUM(h00), SUM(h01), SUM(h02), SUM(h03), SUM(h04), SUM(h05), SUM(h06), SUM(h07), SUM(h08), SUM(h09), SUM(h10), SUM(h11), SUM(h12), SUM(h13), SUM(h14), SUM(h15), SUM(h16), SUM(h17)
FROM m0058_learning GROUP BY minute, tenant, model, task, mode;
INSERT INTO rollups_learning (span, start, tenant, model, task, mode, requests, failed, cost_usd, baseline_cost_usd, latency_ms_sum, grade_sum, graded, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17)
SELECT 3600, (minute / 3600) * 3600, tenant, model, task, mode, SUM(requests), SUM(failed), SUM(cost_usd), SUM(baseline_cost_usd), SUM(latency_ms_sum), SUM(grade_sum), SUM(graded), SUM(h00), SUM(h01), SUM(h02), SUM(h03), SUM(h04), SUM(h05), SUM(h06), SUM(h07), SUM(h08), SUM(h09), SUM(h10), SUM(h11), SUM(h12), SUM(h13), SUM(h14), SUM(h15), SUM(h16), SUM(h17)
FROM m0058_learning GROUP BY (minute / 3600) * 3600, tenant, model, task, mode;
DROP TABLE m0058_learning;
