-- What each replica added to each arm, in buckets of the store's clock (store/arm_resets.py,
-- ARM_LOG_BUCKET_S), kept a day: a detected quality change's reset sets the arm to the grades
-- since the change, and those include what other replicas wrote between the change and the
-- reset (before it, the reset dropped them with the evidence from before the change).
-- A new table only: replicas on the code before it neither read nor write it.
CREATE TABLE IF NOT EXISTS arm_log (
    tenant TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    bucket REAL NOT NULL,
    replica TEXT NOT NULL,
    alpha REAL NOT NULL,
    beta REAL NOT NULL,
    n REAL NOT NULL,
    PRIMARY KEY (tenant, task, model, bucket, replica)
);
CREATE INDEX IF NOT EXISTS arm_log_bucket ON arm_log (bucket);
-- The mean grade before and after the change a reset was made for: a replica that finds the
-- same change late (its first grades after it came after the first detection) measured it
-- from the same level before, and is not taken for a second change. NULL: an older replica's;
-- `levels_ts`: the `ts` they were written with (an older replica's reset moves `ts` alone).
ALTER TABLE arm_resets ADD COLUMN level_before REAL;
ALTER TABLE arm_resets ADD COLUMN level_after REAL;
ALTER TABLE arm_resets ADD COLUMN levels_ts REAL;
