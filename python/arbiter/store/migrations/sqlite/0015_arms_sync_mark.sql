-- Incremental policy sync: each arms row carries the mark of the write that last changed it, so
-- a replica fetches only the rows changed since its previous sync instead of the whole table.
-- SQLite serialises writers, so a counter taken inside the write transaction only grows.
ALTER TABLE arms ADD COLUMN sync_mark INTEGER NOT NULL DEFAULT 0;
CREATE INDEX arms_sync_mark ON arms (sync_mark);
