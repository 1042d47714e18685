-- Rollup levels above the per-minute one (0002), so stats and long time series read a few
-- thousand rows whatever the history's length (issue 18). Maintained by the writer's transaction
-- (store/rollup.py plan()); backfilled here: the hourly and all-tenant levels from the per-minute
-- rollups (the same numbers the time series showed), the totals from the raw decisions and each
-- one's best grade (the same numbers stats and the cost/quality view showed). The CASE over
-- graders mirrors records.GRADER_PRECEDENCE at this version; later writes use the code's table.
CREATE TABLE rollups_hour (
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    hour INTEGER NOT NULL,
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
    PRIMARY KEY (tenant, hour, model, task)
);
CREATE INDEX rollups_hour_hour ON rollups_hour (hour);
-- every tenant, model and task together; span 60 (per minute) or 3600 (per hour)
CREATE TABLE rollups_global (
    span INTEGER NOT NULL,
    start INTEGER NOT NULL,
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
    PRIMARY KEY (span, start)
);
-- all history per (tenant, model, task, mode), decisions only; never pruned
CREATE TABLE rollup_totals (
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    mode TEXT NOT NULL,
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
    cache_exact_hits INTEGER NOT NULL DEFAULT 0,
    cache_exact_saved_usd REAL NOT NULL DEFAULT 0,
    cache_semantic_hits INTEGER NOT NULL DEFAULT 0,
    cache_semantic_saved_usd REAL NOT NULL DEFAULT 0,
    ok_requests INTEGER NOT NULL DEFAULT 0,
    ok_cost_usd REAL NOT NULL DEFAULT 0,
    ok_graded INTEGER NOT NULL DEFAULT 0,
    ok_grade_sum REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, model, task, mode)
);
INSERT INTO rollups_hour (tenant, model, task, hour, requests, failed, cost_usd, baseline_cost_usd, latency_ms_sum, grade_sum, graded, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17)
SELECT tenant, model, task, (minute / 3600) * 3600, SUM(requests), SUM(failed), SUM(cost_usd), SUM(baseline_cost_usd), SUM(latency_ms_sum), SUM(grade_sum), SUM(graded), SUM(h00), SUM(h01), SUM(h02), SUM(h03), SUM(h04), SUM(h05), SUM(h06), SUM(h07), SUM(h08), SUM(h09), SUM(h10), SUM(h11), SUM(h12), SUM(h13), SUM(h14), SUM(h15), SUM(h16), SUM(h17)
FROM rollups GROUP BY tenant, model, task, (minute / 3600) * 3600;
INSERT INTO rollups_global (span, start, requests, failed, cost_usd, baseline_cost_usd, latency_ms_sum, grade_sum, graded, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17)
SELECT 60, minute, SUM(requests), SUM(failed), SUM(cost_usd), SUM(baseline_cost_usd), SUM(latency_ms_sum), SUM(grade_sum), SUM(graded), SUM(h00), SUM(h01), SUM(h02), SUM(h03), SUM(h04), SUM(h05), SUM(h06), SUM(h07), SUM(h08), SUM(h09), SUM(h10), SUM(h11), SUM(h12), SUM(h13), SUM(h14), SUM(h15), SUM(h16), SUM(h17) FROM rollups GROUP BY minute;
INSERT INTO rollups_global (span, start, requests, failed, cost_usd, baseline_cost_usd, latency_ms_sum, grade_sum, graded, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17)
SELECT 3600, hour, SUM(requests), SUM(failed), SUM(cost_usd), SUM(baseline_cost_usd), SUM(latency_ms_sum), SUM(grade_sum), SUM(graded), SUM(h00), SUM(h01), SUM(h02), SUM(h03), SUM(h04), SUM(h05), SUM(h06), SUM(h07), SUM(h08), SUM(h09), SUM(h10), SUM(h11), SUM(h12), SUM(h13), SUM(h14), SUM(h15), SUM(h16), SUM(h17) FROM rollups_hour GROUP BY hour;
INSERT INTO rollup_totals (tenant, model, task, mode, requests, failed, cost_usd, baseline_cost_usd, latency_ms_sum, grade_sum, graded, h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, cache_exact_hits, cache_exact_saved_usd, cache_semantic_hits, cache_semantic_saved_usd, ok_requests, ok_cost_usd, ok_graded, ok_grade_sum)
SELECT d.tenant, d.chosen_model, d.task, d.mode, COUNT(*),
    SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END), SUM(d.cost_usd),
    SUM(d.baseline_cost_usd), SUM(d.latency_ms), COALESCE(SUM(g.score), 0), COUNT(g.score),
    SUM(CASE WHEN d.latency_ms < 25 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 25 AND d.latency_ms < 50 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 50 AND d.latency_ms < 100 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 100 AND d.latency_ms < 200 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 200 AND d.latency_ms < 300 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 300 AND d.latency_ms < 500 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 500 AND d.latency_ms < 750 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 750 AND d.latency_ms < 1000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 1000 AND d.latency_ms < 1500 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 1500 AND d.latency_ms < 2000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 2000 AND d.latency_ms < 3000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 3000 AND d.latency_ms < 5000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 5000 AND d.latency_ms < 7500 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 7500 AND d.latency_ms < 10000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 10000 AND d.latency_ms < 20000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 20000 AND d.latency_ms < 30000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 30000 AND d.latency_ms < 60000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.latency_ms >= 60000 THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.cache_kind = 'exact' THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.cache_kind = 'exact' THEN COALESCE(d.cache_saved_usd, 0) ELSE 0 END),
    SUM(CASE WHEN d.cache_kind = 'semantic' THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.cache_kind = 'semantic' THEN COALESCE(d.cache_saved_usd, 0) ELSE 0 END),
    SUM(CASE WHEN d.status = 'ok' THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.status = 'ok' THEN d.cost_usd ELSE 0 END),
    SUM(CASE WHEN d.status = 'ok' AND g.score IS NOT NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN d.status = 'ok' AND g.score IS NOT NULL THEN g.score ELSE 0 END)
FROM decisions d LEFT JOIN (
    SELECT decision_id, score FROM (
        SELECT decision_id, score, ROW_NUMBER() OVER (
            PARTITION BY decision_id ORDER BY (CASE grader WHEN 'judge' THEN 1 WHEN 'auto' THEN 2 WHEN 'reference' THEN 3 WHEN 'execution' THEN 4 WHEN 'feedback' THEN 5 ELSE 0 END) DESC) AS rn
        FROM grades) r
    WHERE rn = 1) g ON g.decision_id = d.id
GROUP BY d.tenant, d.chosen_model, d.task, d.mode;
