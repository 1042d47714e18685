-- Who holds budget reservations (budget.py, store/budget_holds.py). Each sidecar process has a
-- lease (`budget_owners`, renewed by its policy sync) and a ledger of what it holds per budget
-- window (`budget_holds`, written in the reserve's and the settle's own transactions, next to
-- budget_usage's aggregate). When a process dies with requests in flight its lease expires and
-- any live process releases its ledger from budget_usage.reserved_usd, once.
CREATE TABLE budget_owners (
    owner TEXT PRIMARY KEY,
    expires_ts DOUBLE PRECISION NOT NULL
);
CREATE TABLE budget_holds (
    owner TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start DOUBLE PRECISION NOT NULL,
    reserved_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, scope, window_start)
);
