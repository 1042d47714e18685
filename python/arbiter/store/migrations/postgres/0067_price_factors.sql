-- The price factors the change detector adopted (services._changed: a model's upstream reports
-- its calls at a steady multiple of its configured price), shared by every replica and kept
-- across restarts (store/price_factors.py). `price_in` / `price_out` are the prices the factor
-- multiplies: a factor learned against other prices (a reload changed them) does not apply.
-- `seq` counts the model's adoptions in commit order (the newest wins, whatever the
-- replicas' clocks say); `ts` is the adopting replica's clock, for reading only.
-- A new table only: replicas on the code before it neither read nor write it.
CREATE TABLE price_factors (
    model TEXT PRIMARY KEY,
    factor DOUBLE PRECISION NOT NULL,
    price_in DOUBLE PRECISION NOT NULL,
    price_out DOUBLE PRECISION NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    seq BIGINT NOT NULL
);
