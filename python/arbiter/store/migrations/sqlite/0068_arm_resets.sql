-- A detected quality change's evidence reset, one row per arm and direction: when it was last
-- applied, on the store's clock (store/arm_resets.py). Two replicas that detect the same
-- change apply its reset once: the second finds the first's row in the window and leaves the
-- arm as the first set it. A new table only: replicas on the code before it neither read nor
-- write it (they reset by an additive delta, as before).
CREATE TABLE IF NOT EXISTS arm_resets (
    tenant TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    direction TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (tenant, task, model, direction)
);
