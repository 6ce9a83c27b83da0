-- Smart charging: operator caps and the profile method each station proved to accept.
CREATE TABLE charging_caps (
    scope TEXT NOT NULL,               -- 'site', 'station' or 'connector'
    target_id TEXT NOT NULL,           -- the site id or the station id
    connector_id INTEGER NOT NULL,     -- 0 unless scope = 'connector'
    limit_a DOUBLE PRECISION NOT NULL,
    set_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, target_id, connector_id)
);
CREATE TABLE charging_methods (
    station_id TEXT PRIMARY KEY,
    method TEXT NOT NULL,              -- 'TxProfile' or 'TxDefaultProfile'
    proven_at DOUBLE PRECISION NOT NULL
);
