-- GET /arbiter/policy pages the arms by key, in byte (code point) order, Python's string order
-- (store/arm_pages.py): the primary key's index sorts by the database's collation, which may
-- follow language rules; this one walks the keys in the order the pages ask for.
CREATE INDEX IF NOT EXISTS arms_key_bytes ON arms (tenant COLLATE "C", task COLLATE "C", model COLLATE "C");
