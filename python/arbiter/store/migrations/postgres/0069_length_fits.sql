-- Each replica's learnt answer-length regressions (output_length.py: the pool's, each model's
-- offset from it, each fitted model's), as JSON documents of weights, precision and residual
-- variance (store/length_fits.py): written at the policy sync, read at start, so a restarted
-- sidecar predicts answer lengths (and latency under an SLO) from what it had learnt.
-- A new table only: replicas on the code before it neither read nor write it.
CREATE TABLE IF NOT EXISTS length_fits (
    replica TEXT NOT NULL,
    part TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_ts DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (replica, part)
);
