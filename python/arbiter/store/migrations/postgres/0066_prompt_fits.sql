-- Each replica's learnt prompt line per model (prompt_ratio.py: what its upstream bills for a
-- prompt o200k counts n, `fixed + ratio x n`), written at the policy sync, read at start: a
-- restarted sidecar's first burst holds at the line its predecessors learnt, not at o200k's
-- count (learnt per process, a fresh one was unprotected until its first answer).
CREATE TABLE IF NOT EXISTS prompt_fits (
    replica TEXT NOT NULL,
    model TEXT NOT NULL,
    fixed DOUBLE PRECISION NOT NULL,
    ratio DOUBLE PRECISION NOT NULL,
    updated_ts DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (replica, model)
);
CREATE INDEX IF NOT EXISTS prompt_fits_updated ON prompt_fits (updated_ts);
