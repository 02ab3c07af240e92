-- +goose Up
-- Telemetry is recorded one event per accepted batch of a device (see
-- domain.TelemetryBatch). Each item keeps its key, a UUID of its device and
-- id (domain.TelemetryItemKey), here, for the de-duplication horizon: a
-- repeated item is found and counted as a duplicate. The table is
-- partitioned by the UTC day the item was recorded; whole days are dropped
-- once older than the horizon (FLEETPULSE_DEDUP_HORIZON), never deleted row
-- by row. No unique constraint: appends to one device's stream are
-- serialised by its event_streams row lock, which makes look-up-then-insert
-- safe. Partitions are made by the event store as days come
-- (telemetry_item_ids_YYYYMMDD).
CREATE TABLE telemetry_item_ids (
    item_key    uuid NOT NULL,
    recorded_on date NOT NULL
) PARTITION BY RANGE (recorded_on);
CREATE INDEX telemetry_item_ids_key_idx ON telemetry_item_ids (item_key);

-- Items of the first log format (one event per item, the item's key as the
-- event id) can only be at or before this position: a log that had no
-- events then has none, and its appends need not look for them.
CREATE TABLE telemetry_first_format (
    until_position bigint NOT NULL
);
INSERT INTO telemetry_first_format SELECT coalesce(max(position), 0) FROM events;

-- A batch event's JSON is compressed in the row (lz4 is faster than the
-- default pglz at a similar ratio on this data), and compression is tried
-- for every row over 128 bytes instead of only rows over 2 kB.
ALTER TABLE events ALTER COLUMN data SET COMPRESSION lz4;
ALTER TABLE events SET (toast_tuple_target = 128);

-- The log's telemetry as one row per item, in both formats: what analysts
-- (and the tests' oracles) query instead of unpacking batches by hand.
CREATE VIEW measurement_items AS
SELECT e.data->>'station_id' AS device_id, e.data->>'id' AS measurement_id, e.data->>'type' AS type,
       (e.data->>'value')::float8 AS value, (e.data->>'measured_at')::timestamptz AS measured_at,
       e.tx_id, e.position, e.recorded_at
FROM events e WHERE e.event_type = 'MeasurementRecorded'
UNION ALL
SELECT e.data->>'station_id', m->>'id', m->>'type', (m->>'value')::float8, (m->>'measured_at')::timestamptz,
       e.tx_id, e.position, e.recorded_at
FROM events e, jsonb_array_elements(e.data->'measurements') AS m
WHERE e.event_type = 'MeasurementsRecorded';

CREATE VIEW vehicle_event_items AS
SELECT e.data->>'vid' AS device_id, e.data->>'eid' AS eid, e.data->>'type' AS type,
       (e.data->>'occurred_at')::timestamptz AS occurred_at, e.data->'readings' AS readings,
       e.data->'location' AS location, e.data->'data' AS data, e.tx_id, e.position, e.recorded_at
FROM events e WHERE e.event_type = 'VehicleEventRecorded'
UNION ALL
SELECT e.data->>'vid', v->>'eid', v->>'type', (v->>'occurred_at')::timestamptz, v->'readings',
       v->'location', v->'data', e.tx_id, e.position, e.recorded_at
FROM events e, jsonb_array_elements(e.data->'events') AS v
WHERE e.event_type = 'VehicleEventsRecorded';

-- +goose Down
DROP TABLE telemetry_first_format;
DROP VIEW vehicle_event_items;
DROP VIEW measurement_items;
ALTER TABLE events RESET (toast_tuple_target);
ALTER TABLE events ALTER COLUMN data SET COMPRESSION default;
DROP TABLE telemetry_item_ids;
