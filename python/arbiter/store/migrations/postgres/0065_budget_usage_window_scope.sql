-- GET /arbiter/budgets pages the open windows' rows in (window_start, scope) order (a tenant
-- with a key per user has a row per key in each window): this index walks a page from its
-- cursor, where the window index alone sorted every scope of the window for each page. It
-- serves the unpaged `window_start IN (...)` read too, so it replaces that index (0056): one
-- index on the table every reservation writes, not two.
CREATE INDEX IF NOT EXISTS budget_usage_window_scope ON budget_usage (window_start, scope);
DROP INDEX IF EXISTS budget_usage_window;
