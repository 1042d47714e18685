-- Incremental policy sync: each arms row carries the id of the transaction that last changed it
-- (pg_current_xact_id). A reader remembers the oldest transaction still running when it read
-- (the snapshot's xmin) and next fetches rows marked at or after it: every transaction older
-- than that had committed (or aborted) and was seen, whatever the commit order.
ALTER TABLE arms ADD COLUMN sync_mark BIGINT NOT NULL DEFAULT 0;
CREATE INDEX arms_sync_mark ON arms (sync_mark);
