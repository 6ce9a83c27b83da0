-- Charging profiles an operator set by hand, and the operator cap each put on its connector.
CREATE TABLE manual_profiles (
    station_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,     -- 0: the whole station
    profile_id INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    stack_level INTEGER NOT NULL,
    limit_a DOUBLE PRECISION NOT NULL,            -- the first period's limit in A (W over 230 V × phases)
    set_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (station_id, connector_id, profile_id)
);
