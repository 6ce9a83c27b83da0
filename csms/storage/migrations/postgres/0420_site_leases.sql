-- One leader per site (issue 15): a row per site, taken and renewed with single statements on
-- the database's clock. `epoch` grows by one at every take-over (the fencing token every limit
-- carries); `lease_until` is when another node may take the site. Reserved keys ("__cluster__")
-- hold cluster-wide singleton jobs the same way. Used only with cluster.enabled.
CREATE TABLE site_leases (
    site_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
);
