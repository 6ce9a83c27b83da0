-- The last full check of a station's keys (every key asked, or an answer that held all) and the
-- firmware it booted with then, carried from snapshot to snapshot: until the next full check is
-- due (a day, or another firmware) a read skips the keys the station did not have.
ALTER TABLE config_snapshots ADD COLUMN full_read_at REAL;
ALTER TABLE config_snapshots ADD COLUMN full_read_firmware TEXT;
