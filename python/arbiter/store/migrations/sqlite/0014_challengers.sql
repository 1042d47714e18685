-- Challenger models (shadow traffic): their status and the tasks they were promoted for, set by
-- the promotion rule or an operator on any replica; every replica adopts them on sync.
CREATE TABLE challengers (
    model TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    tasks TEXT NOT NULL,
    note TEXT NOT NULL,
    updated_ts DOUBLE PRECISION NOT NULL
);
