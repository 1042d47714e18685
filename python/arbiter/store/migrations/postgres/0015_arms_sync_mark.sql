-- Incremental policy sync: each arms row carries the id of the transaction that last changed it
-- (pg_current_xact_id). A reader remembers its snapshot (xmax and the transactions running then)
-- and next fetches rows marked at or above xmax or by those transactions: every other one had
-- finished and was seen, whatever the commit order (store/postgres.py).
ALTER TABLE arms ADD COLUMN sync_mark BIGINT NOT NULL DEFAULT 0;
CREATE INDEX arms_sync_mark ON arms (sync_mark);
