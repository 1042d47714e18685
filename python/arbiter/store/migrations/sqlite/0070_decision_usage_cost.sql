-- What a decision charged its upstream's reported cost (cost_source 'upstream') would have cost
-- at the registry's prices, its prompt-cache parts at theirs: cost_ratio.seed divides the report
-- by it at start. The token totals alone priced a prompt read from the cache at the input price
-- (the ratio read low). NULL for every other decision, and for those written before it (the
-- seed then prices their totals, as before). An added nullable column: replicas on the code
-- before it name their columns and never write it.
ALTER TABLE decisions ADD COLUMN usage_cost_usd REAL;
