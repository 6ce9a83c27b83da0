-- A read that finds the same configuration as the latest snapshot only records when it was
-- confirmed, so the history lists distinct states (a Pending station boots every minute).
ALTER TABLE config_snapshots ADD COLUMN checked_at DOUBLE PRECISION;
