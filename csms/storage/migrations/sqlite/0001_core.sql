-- Core tables: stations, connectors, transactions, meter values, station events.
CREATE TABLE stations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'pending',
    password_hash TEXT,
    vendor TEXT,
    model TEXT,
    serial_number TEXT,
    firmware_version TEXT,
    iccid TEXT,
    imsi TEXT,
    meter_type TEXT,
    meter_serial_number TEXT,
    boot_at REAL,
    first_seen REAL NOT NULL,
    last_seen REAL,
    last_heartbeat REAL,
    online INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE connectors (
    station_id TEXT NOT NULL REFERENCES stations(id),
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT NOT NULL,
    info TEXT,
    vendor_id TEXT,
    vendor_error_code TEXT,
    station_time TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (station_id, connector_id)
);
CREATE TABLE status_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT NOT NULL,
    info TEXT,
    vendor_id TEXT,
    vendor_error_code TEXT,
    station_time TEXT,
    received_at REAL NOT NULL
);
CREATE INDEX status_notifications_station ON status_notifications (station_id, id);
CREATE TABLE id_tags (
    id_tag TEXT PRIMARY KEY,
    note TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    meter_start INTEGER NOT NULL,
    start_time TEXT NOT NULL,
    started_at REAL NOT NULL,
    reservation_id INTEGER,
    meter_stop INTEGER,
    stop_time TEXT,
    stopped_at REAL,
    stop_reason TEXT,
    stop_id_tag TEXT,
    created_at REAL NOT NULL,
    UNIQUE (station_id, connector_id, id_tag, start_time, meter_start)
);
CREATE INDEX transactions_station ON transactions (station_id, id);
CREATE TABLE unmatched_stops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    transaction_id INTEGER NOT NULL,
    id_tag TEXT,
    meter_stop INTEGER NOT NULL,
    stop_time TEXT NOT NULL,
    reason TEXT,
    received_at REAL NOT NULL
);
CREATE TABLE meter_values (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    transaction_id INTEGER,
    sampled_at TEXT NOT NULL,
    value TEXT NOT NULL,
    numeric REAL,
    measurand TEXT,
    phase TEXT,
    unit TEXT,
    context TEXT,
    location TEXT,
    format TEXT,
    received_at REAL NOT NULL
);
CREATE INDEX meter_values_station ON meter_values (station_id, connector_id, id);
CREATE INDEX meter_values_transaction ON meter_values (transaction_id);
CREATE TABLE station_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX station_events_station ON station_events (station_id, id);
