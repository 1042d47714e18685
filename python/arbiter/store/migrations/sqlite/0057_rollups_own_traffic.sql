-- The time-keyed rollups (per minute, per hour, all tenants) count a tenant's own requests only,
-- as /arbiter/stats does: Arbiter's learning calls (decisions of mode shadow, probe or judge:
-- records.LEARNING_MODES) are left out from now on (store/rollup.py plan()). Backfill: their
-- contributions are taken out of the rows written before, from the raw decisions and each one's
-- best grade (the CASE over graders mirrors records.GRADER_PRECEDENCE at this version). A
-- learning call whose raw row retention already dropped cannot be taken out: minutes older than
-- `retention.records_days` may still include those (README: "Stats count a tenant's own
-- requests"). Latency probes were recorded as mode shadow before this version and stay so.
CREATE TEMP TABLE m0057_learning AS
SELECT d.tenant AS tenant, d.chosen_model AS model, d.task AS task,
    CAST(d.ts / 60 AS INTEGER) * 60 AS minute,
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
WHERE d.mode IN ('shadow', 'probe', 'judge', 'cascade_judge');
UPDATE rollups SET requests = rollups.requests - s.requests, failed = rollups.failed - s.failed, cost_usd = rollups.cost_usd - s.cost_usd, baseline_cost_usd = rollups.baseline_cost_usd - s.baseline_cost_usd, latency_ms_sum = rollups.latency_ms_sum - s.latency_ms_sum, grade_sum = rollups.grade_sum - s.grade_sum, graded = rollups.graded - s.graded, h00 = rollups.h00 - s.h00, h01 = rollups.h01 - s.h01, h02 = rollups.h02 - s.h02, h03 = rollups.h03 - s.h03, h04 = rollups.h04 - s.h04, h05 = rollups.h05 - s.h05, h06 = rollups.h06 - s.h06, h07 = rollups.h07 - s.h07, h08 = rollups.h08 - s.h08, h09 = rollups.h09 - s.h09, h10 = rollups.h10 - s.h10, h11 = rollups.h11 - s.h11, h12 = rollups.h12 - s.h12, h13 = rollups.h13 - s.h13, h14 = rollups.h14 - s.h14, h15 = rollups.h15 - s.h15, h16 = rollups.h16 - s.h16, h17 = rollups.h17 - s.h17
FROM (SELECT tenant, model, task, minute, SUM(requests) AS requests, SUM(failed) AS failed, SUM(cost_usd) AS cost_usd, SUM(baseline_cost_usd) AS baseline_cost_usd, SUM(latency_ms_sum) AS latency_ms_sum, SUM(grade_sum) AS grade_sum, SUM(graded) AS graded, SUM(h00) AS h00, SUM(h01) AS h01, SUM(h02) AS h02, SUM(h03) AS h03, SUM(h04) AS h04, SUM(h05) AS h05, SUM(h06) AS h06, SUM(h07) AS h07, SUM(h08) AS h08, SUM(h09) AS h09, SUM(h10) AS h10, SUM(h11) AS h11, SUM(h12) AS h12, SUM(h13) AS h13, SUM(h14) AS h14, SUM(h15) AS h15, SUM(h16) AS h16, SUM(h17) AS h17 FROM m0057_learning GROUP BY tenant, model, task, minute) s
WHERE rollups.tenant = s.tenant AND rollups.model = s.model AND rollups.task = s.task AND rollups.minute = s.minute;
UPDATE rollups_hour SET requests = rollups_hour.requests - s.requests, failed = rollups_hour.failed - s.failed, cost_usd = rollups_hour.cost_usd - s.cost_usd, baseline_cost_usd = rollups_hour.baseline_cost_usd - s.baseline_cost_usd, latency_ms_sum = rollups_hour.latency_ms_sum - s.latency_ms_sum, grade_sum = rollups_hour.grade_sum - s.grade_sum, graded = rollups_hour.graded - s.graded, h00 = rollups_hour.h00 - s.h00, h01 = rollups_hour.h01 - s.h01, h02 = rollups_hour.h02 - s.h02, h03 = rollups_hour.h03 - s.h03, h04 = rollups_hour.h04 - s.h04, h05 = rollups_hour.h05 - s.h05, h06 = rollups_hour.h06 - s.h06, h07 = rollups_hour.h07 - s.h07, h08 = rollups_hour.h08 - s.h08, h09 = rollups_hour.h09 - s.h09, h10 = rollups_hour.h10 - s.h10, h11 = rollups_hour.h11 - s.h11, h12 = rollups_hour.h12 - s.h12, h13 = rollups_hour.h13 - s.h13, h14 = rollups_hour.h14 - s.h14, h15 = rollups_hour.h15 - s.h15, h16 = rollups_hour.h16 - s.h16, h17 = rollups_hour.h17 - s.h17
FROM (SELECT tenant, model, task, (minute / 3600) * 3600 AS hour, SUM(requests) AS requests, SUM(failed) AS failed, SUM(cost_usd) AS cost_usd, SUM(baseline_cost_usd) AS baseline_cost_usd, SUM(latency_ms_sum) AS latency_ms_sum, SUM(grade_sum) AS grade_sum, SUM(graded) AS graded, SUM(h00) AS h00, SUM(h01) AS h01, SUM(h02) AS h02, SUM(h03) AS h03, SUM(h04) AS h04, SUM(h05) AS h05, SUM(h06) AS h06, SUM(h07) AS h07, SUM(h08) AS h08, SUM(h09) AS h09, SUM(h10) AS h10, SUM(h11) AS h11, SUM(h12) AS h12, SUM(h13) AS h13, SUM(h14) AS h14, SUM(h15) AS h15, SUM(h16) AS h16, SUM(h17) AS h17 FROM m0057_learning GROUP BY tenant, model, task, (minute / 3600) * 3600) s
WHERE rollups_hour.tenant = s.tenant AND rollups_hour.model = s.model AND rollups_hour.task = s.task AND rollups_hour.hour = s.hour;
UPDATE rollups_global SET requests = rollups_global.requests - s.requests, failed = rollups_global.failed - s.failed, cost_usd = rollups_global.cost_usd - s.cost_usd, baseline_cost_usd = rollups_global.baseline_cost_usd - s.baseline_cost_usd, latency_ms_sum = rollups_global.latency_ms_sum - s.latency_ms_sum, grade_sum = rollups_global.grade_sum - s.grade_sum, graded = rollups_global.graded - s.graded, h00 = rollups_global.h00 - s.h00, h01 = rollups_global.h01 - s.h01, h02 = rollups_global.h02 - s.h02, h03 = rollups_global.h03 - s.h03, h04 = rollups_global.h04 - s.h04, h05 = rollups_global.h05 - s.h05, h06 = rollups_global.h06 - s.h06, h07 = rollups_global.h07 - s.h07, h08 = rollups_global.h08 - s.h08, h09 = rollups_global.h09 - s.h09, h10 = rollups_global.h10 - s.h10, h11 = rollups_global.h11 - s.h11, h12 = rollups_global.h12 - s.h12, h13 = rollups_global.h13 - s.h13, h14 = rollups_global.h14 - s.h14, h15 = rollups_global.h15 - s.h15, h16 = rollups_global.h16 - s.h16, h17 = rollups_global.h17 - s.h17
FROM (SELECT minute AS start, SUM(requests) AS requests, SUM(failed) AS failed, SUM(cost_usd) AS cost_usd, SUM(baseline_cost_usd) AS baseline_cost_usd, SUM(latency_ms_sum) AS latency_ms_sum, SUM(grade_sum) AS grade_sum, SUM(graded) AS graded, SUM(h00) AS h00, SUM(h01) AS h01, SUM(h02) AS h02, SUM(h03) AS h03, SUM(h04) AS h04, SUM(h05) AS h05, SUM(h06) AS h06, SUM(h07) AS h07, SUM(h08) AS h08, SUM(h09) AS h09, SUM(h10) AS h10, SUM(h11) AS h11, SUM(h12) AS h12, SUM(h13) AS h13, SUM(h14) AS h14, SUM(h15) AS h15, SUM(h16) AS h16, SUM(h17) AS h17 FROM m0057_learning GROUP BY minute) s
WHERE rollups_global.span = 60 AND rollups_global.start = s.start;
UPDATE rollups_global SET requests = rollups_global.requests - s.requests, failed = rollups_global.failed - s.failed, cost_usd = rollups_global.cost_usd - s.cost_usd, baseline_cost_usd = rollups_global.baseline_cost_usd - s.baseline_cost_usd, latency_ms_sum = rollups_global.latency_ms_sum - s.latency_ms_sum, grade_sum = rollups_global.grade_sum - s.grade_sum, graded = rollups_global.graded - s.graded, h00 = rollups_global.h00 - s.h00, h01 = rollups_global.h01 - s.h01, h02 = rollups_global.h02 - s.h02, h03 = rollups_global.h03 - s.h03, h04 = rollups_global.h04 - s.h04, h05 = rollups_global.h05 - s.h05, h06 = rollups_global.h06 - s.h06, h07 = rollups_global.h07 - s.h07, h08 = rollups_global.h08 - s.h08, h09 = rollups_global.h09 - s.h09, h10 = rollups_global.h10 - s.h10, h11 = rollups_global.h11 - s.h11, h12 = rollups_global.h12 - s.h12, h13 = rollups_global.h13 - s.h13, h14 = rollups_global.h14 - s.h14, h15 = rollups_global.h15 - s.h15, h16 = rollups_global.h16 - s.h16, h17 = rollups_global.h17 - s.h17
FROM (SELECT (minute / 3600) * 3600 AS start, SUM(requests) AS requests, SUM(failed) AS failed, SUM(cost_usd) AS cost_usd, SUM(baseline_cost_usd) AS baseline_cost_usd, SUM(latency_ms_sum) AS latency_ms_sum, SUM(grade_sum) AS grade_sum, SUM(graded) AS graded, SUM(h00) AS h00, SUM(h01) AS h01, SUM(h02) AS h02, SUM(h03) AS h03, SUM(h04) AS h04, SUM(h05) AS h05, SUM(h06) AS h06, SUM(h07) AS h07, SUM(h08) AS h08, SUM(h09) AS h09, SUM(h10) AS h10, SUM(h11) AS h11, SUM(h12) AS h12, SUM(h13) AS h13, SUM(h14) AS h14, SUM(h15) AS h15, SUM(h16) AS h16, SUM(h17) AS h17 FROM m0057_learning GROUP BY (minute / 3600) * 3600) s
WHERE rollups_global.span = 3600 AND rollups_global.start = s.start;
-- a row left with nothing (no request, no grade) is no point of a series
DELETE FROM rollups WHERE requests = 0 AND graded = 0;
DELETE FROM rollups_hour WHERE requests = 0 AND graded = 0;
DELETE FROM rollups_global WHERE requests = 0 AND graded = 0;
DROP TABLE m0057_learning;
