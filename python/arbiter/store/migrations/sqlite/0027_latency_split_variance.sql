-- Non-streaming totals' sums that split their spread between TTFT and output speed
-- (arbiter.latency._log_vars: the squared residual's growth with the answer's length N):
-- w N^3, w N^4, w T N^2, w T N^3, w T^2 N^2. Rows written before have 0 (one shared spread).
ALTER TABLE latency_stats ADD COLUMN reg_n3 DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE latency_stats ADD COLUMN reg_n4 DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE latency_stats ADD COLUMN reg_tn2 DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE latency_stats ADD COLUMN reg_tn3 DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE latency_stats ADD COLUMN reg_ttn2 DOUBLE PRECISION NOT NULL DEFAULT 0;
