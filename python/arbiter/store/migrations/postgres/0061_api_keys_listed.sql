-- The admin key list pages in creation order (GET /arbiter/admin/keys?limit=&after=): each page
-- reads its rows from here instead of sorting every key (a deployment with a key per user has
-- tens of thousands). An index only: replicas on the code before it read the table as before.
-- IF NOT EXISTS: a store whose schema_version was rewound past it takes it again as it is.
CREATE INDEX IF NOT EXISTS api_keys_listed ON api_keys (created_ts, id);
