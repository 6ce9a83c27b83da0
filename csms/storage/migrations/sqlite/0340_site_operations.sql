-- Operator operations: id tags with status, expiry, groups and a per-station restriction; the
-- local authorization list's version per station; transactions closed by an operator.
ALTER TABLE id_tags ADD COLUMN status TEXT NOT NULL DEFAULT 'Accepted';
ALTER TABLE id_tags ADD COLUMN expiry_at REAL;
ALTER TABLE id_tags ADD COLUMN parent_id_tag TEXT;
ALTER TABLE id_tags ADD COLUMN station_id TEXT;
-- The list version at which the tag last changed (a removed tag stays as status 'Removed' so a
-- differential SendLocalList can remove it on every station).
ALTER TABLE id_tags ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE id_tags ADD COLUMN updated_at REAL;
CREATE INDEX id_tags_version ON id_tags (version);
CREATE TABLE local_list_versions (
    station_id TEXT PRIMARY KEY,
    sent_version BIGINT NOT NULL,
    station_version BIGINT,
    status TEXT NOT NULL,
    synced_at REAL NOT NULL
);
ALTER TABLE transactions ADD COLUMN close_reason TEXT;
ALTER TABLE transactions ADD COLUMN closed_by_operator INTEGER NOT NULL DEFAULT 0;
CREATE INDEX transactions_started ON transactions (started_at);
CREATE INDEX station_events_received ON station_events (received_at);
CREATE INDEX status_notifications_received ON status_notifications (received_at);
-- The event log's own entries (connects, disconnects, boots); station_events keeps the
-- messages as they came.
CREATE TABLE station_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX station_log_station ON station_log (station_id, received_at);
CREATE INDEX station_log_received ON station_log (received_at);
