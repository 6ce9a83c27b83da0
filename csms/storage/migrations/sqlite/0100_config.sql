-- Configuration management: snapshots of every station's keys, the change queue/history,
-- licence unlock jobs and SCN apply jobs.
CREATE TABLE config_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    taken_at REAL NOT NULL,
    reason TEXT NOT NULL,              -- boot, request, verify, scn
    key_count INTEGER NOT NULL,
    entries TEXT NOT NULL,             -- JSON [[key, value, readonly], ...]
    unknown_keys TEXT NOT NULL         -- JSON list
);
CREATE INDEX config_snapshots_station ON config_snapshots (station_id, id);
CREATE TABLE config_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0,
    reboot_policy TEXT NOT NULL,       -- never, when-idle, now
    origin TEXT NOT NULL,              -- api, license, scn
    state TEXT NOT NULL,               -- queued, reboot-pending, rebooting, verified, ...
    status TEXT,                       -- the station's answer to ChangeConfiguration
    reported_value TEXT,               -- value read back for verification
    detail TEXT,
    warnings TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    sent_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX config_changes_station ON config_changes (station_id, id);
CREATE INDEX config_changes_state ON config_changes (state);
CREATE TABLE license_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    change_id INTEGER,                 -- the FeatureLicenseKey change
    state TEXT NOT NULL,               -- running, done, failed
    features_before TEXT,              -- UnlockedFeatures as the station reported it
    features_after TEXT,
    unlocked TEXT NOT NULL DEFAULT '[]',  -- JSON list of newly unlocked feature codes
    detail TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX license_jobs_station ON license_jobs (station_id, id);
CREATE TABLE scn_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    network TEXT NOT NULL,
    state TEXT NOT NULL,               -- running, done, failed, interrupted
    reboot_policy TEXT NOT NULL,
    plan TEXT NOT NULL,                -- JSON of the plan
    result TEXT NOT NULL DEFAULT '{}', -- JSON per-station outcome
    detail TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
