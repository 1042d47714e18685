-- Models found by polling upstreams' GET /v1/models (discovery.py), shared by every replica:
-- `listing` is what the upstream said (listing.Listed.to_json); `present` = 0 once it left the
-- listing (kept, so in-flight requests and a return find it). One poller per upstream at a time
-- holds `discovery_leases`.
CREATE TABLE discovered_models (
    upstream TEXT NOT NULL,
    model TEXT NOT NULL,
    listing TEXT NOT NULL,
    present INTEGER NOT NULL,
    first_seen_ts DOUBLE PRECISION NOT NULL,
    updated_ts DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (upstream, model)
);
CREATE TABLE discovery_leases (
    upstream TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ts DOUBLE PRECISION NOT NULL
);
