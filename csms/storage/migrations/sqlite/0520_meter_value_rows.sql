-- One row per meterValue element (a timestamp and its sampled values) instead of one per sampled
-- value: the sampled values as the station sent them (JSON), beside the whole outlet's energy
-- register in Wh, the one figure queries need (docs/performance.md, "One row per meterValue").
-- The rows stored so far are grouped by their element (station, connector, transaction, sample
-- time, arrival) in the order they came.
CREATE TABLE meter_value_rows (
    id INTEGER PRIMARY KEY,  -- no AUTOINCREMENT: no sqlite_sequence write per row
    station_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    transaction_id INTEGER,
    sampled_at TEXT NOT NULL,
    samples TEXT NOT NULL,
    energy_wh REAL,
    received_at REAL NOT NULL
);
INSERT INTO meter_value_rows (station_id, connector_id, transaction_id, sampled_at, samples,
                              energy_wh, received_at)
SELECT station_id, connector_id, transaction_id, sampled_at,
       json_group_array(json_object('value', value, 'measurand', measurand, 'phase', phase,
                                    'unit', unit, 'context', context, 'location', location,
                                    'format', format)),
       MAX(CASE WHEN measurand = 'Energy.Active.Import.Register' AND phase IS NULL
                     AND numeric IS NOT NULL
                THEN numeric * CASE WHEN unit = 'kWh' THEN 1000 ELSE 1 END END),
       received_at
FROM (SELECT * FROM meter_values ORDER BY id)
GROUP BY station_id, connector_id, transaction_id, sampled_at, received_at
ORDER BY MIN(id);
DROP TABLE meter_values;
ALTER TABLE meter_value_rows RENAME TO meter_values;
CREATE INDEX meter_values_station ON meter_values (station_id, connector_id, id);
CREATE INDEX meter_values_transaction ON meter_values (transaction_id);
