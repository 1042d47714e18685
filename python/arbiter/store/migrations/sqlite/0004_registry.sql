-- Operator overrides of the model registry (admin API); every replica applies them on sync.
CREATE TABLE registry_overrides (
    model TEXT PRIMARY KEY,
    patch TEXT NOT NULL,
    updated_ts DOUBLE PRECISION NOT NULL
);
