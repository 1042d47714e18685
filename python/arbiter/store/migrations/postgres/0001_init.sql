-- Arbiter store schema v1 (PostgreSQL). JSON columns are JSONB.
CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    tenant TEXT NOT NULL,
    task TEXT NOT NULL,
    mode TEXT NOT NULL,
    chosen_model TEXT NOT NULL,
    reason TEXT NOT NULL,
    candidates JSONB NOT NULL,
    attempts JSONB NOT NULL,
    status TEXT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    baseline_model TEXT NOT NULL,
    baseline_cost_usd DOUBLE PRECISION NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    stream BOOLEAN NOT NULL,
    difficulty DOUBLE PRECISION,
    key_id TEXT,
    error TEXT,
    cost_source TEXT NOT NULL
);
CREATE INDEX decisions_tenant_ts ON decisions (tenant, ts DESC);
CREATE INDEX decisions_ts ON decisions (ts DESC);

-- One row per (decision, grader kind); a later grade of the same kind replaces the earlier one.
-- precedence: feedback 3 > judge 2 > auto 1 (the decision's effective grade is the highest).
CREATE TABLE grades (
    decision_id TEXT NOT NULL,
    grader TEXT NOT NULL,
    precedence SMALLINT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    tenant TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (decision_id, grader)
);
CREATE INDEX grades_tenant ON grades (tenant, decision_id);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    model TEXT,
    task TEXT,
    data JSONB NOT NULL
);
CREATE INDEX alerts_tenant_ts ON alerts (tenant, ts DESC);
CREATE INDEX alerts_ts ON alerts (ts DESC);

-- Bandit arm statistics: the running sum of every PolicyDelta ever written.
CREATE TABLE arms (
    tenant TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    alpha DOUBLE PRECISION NOT NULL,
    beta DOUBLE PRECISION NOT NULL,
    n DOUBLE PRECISION NOT NULL,
    updated_ts DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, task, model)
);

-- Write batches already committed (by batch id), so a retried batch is applied at most once.
CREATE TABLE applied_batches (
    batch_id TEXT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL
);
CREATE INDEX applied_batches_ts ON applied_batches (ts);
