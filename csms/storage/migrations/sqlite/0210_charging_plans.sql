-- Departures and phases (issue 11, items 8 and 9): what drivers or operators said per idTag and
-- per session, and the phase count learnt from an idTag's earlier sessions.
CREATE TABLE idtag_charging_defaults (
    id_tag TEXT PRIMARY KEY,
    departure TEXT,                    -- 'HH:MM' in timezone, the usual departure
    timezone TEXT NOT NULL,            -- IANA name, e.g. 'Europe/Amsterdam'
    energy_kwh REAL,                   -- the usual energy need per session
    phases INTEGER,                    -- 1, 2 or 3 as told (a hint)
    learned_phases INTEGER,            -- 1, 2 or 3 as measured in its last session
    updated_at REAL NOT NULL
);
CREATE TABLE charging_session_plans (
    transaction_id INTEGER PRIMARY KEY,
    station_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    departure_at REAL,                 -- epoch seconds
    energy_kwh REAL,                   -- energy the session should deliver in all
    phases INTEGER,
    set_at REAL NOT NULL
);
