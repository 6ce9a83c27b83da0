-- Operator operations: reservations, firmware files and updates, diagnostics requests and files.
CREATE TABLE reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,                            -- the reservationId sent to the station
    station_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    parent_id_tag TEXT,
    expiry REAL NOT NULL,
    station_status TEXT NOT NULL,      -- the station's answer to ReserveNow ('Sending' until then)
    created_at REAL NOT NULL,
    cancelled_at REAL
);
CREATE INDEX reservations_station ON reservations (station_id, id);
CREATE TABLE firmware_files (
    id TEXT PRIMARY KEY,               -- the first 12 hex digits of the sha256
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,        -- the unguessable part of its download URL
    content BLOB NOT NULL,
    stored_at REAL NOT NULL
);
CREATE TABLE firmware_updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    location TEXT NOT NULL,
    retrieve_at REAL NOT NULL,
    requested_at REAL NOT NULL
);
CREATE INDEX firmware_updates_station ON firmware_updates (station_id, id);
CREATE TABLE diagnostics_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,        -- the unguessable part of its upload URL
    location TEXT NOT NULL,
    file_name TEXT,                    -- what the station said it will upload
    requested_at REAL NOT NULL
);
CREATE INDEX diagnostics_requests_station ON diagnostics_requests (station_id, id);
CREATE TABLE diagnostics_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    request_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    content BLOB NOT NULL,
    stored_at REAL NOT NULL
);
CREATE INDEX diagnostics_files_station ON diagnostics_files (station_id, id);
