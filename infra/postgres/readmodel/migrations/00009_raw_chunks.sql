-- +goose Up
-- Raw read models as compressed chunks (see rawchunk): one row holds the
-- points of one series (a station's measurement type) or one vehicle's
-- events within a span of time, instead of one row per item. Live ingest
-- writes a chunk per series and projector batch; maintenance merges the
-- chunks of a span once it has closed. Tables are partitioned by time and
-- kept for a retention period, dropped a whole partition at a time;
-- partitions are made by the projector process as time goes
-- (<table>_pYYYYMMDDHHMM). The row tables they replace are renamed *_v1
-- here and converted, then dropped, by migration 00010.
ALTER TABLE rm_measurements RENAME TO rm_measurements_v1;
ALTER TABLE rm_vehicle_events RENAME TO rm_vehicle_events_v1;
ALTER TABLE rm_hourly RENAME TO rm_hourly_v1;
ALTER INDEX rm_hourly_pkey RENAME TO rm_hourly_v1_pkey;

CREATE SEQUENCE rm_chunk_ids;

CREATE TABLE rm_measurement_chunks (
    device_id  text NOT NULL,
    type       text NOT NULL,
    span_start timestamptz NOT NULL, -- the span is [span_start, span_start + the table's span width)
    chunk_id   bigint NOT NULL DEFAULT nextval('rm_chunk_ids'),
    first_at   timestamptz NOT NULL, -- its earliest and latest measured time
    last_at    timestamptz NOT NULL,
    points     integer NOT NULL,
    data       bytea NOT NULL
) PARTITION BY RANGE (span_start);
CREATE INDEX rm_measurement_chunks_series_idx ON rm_measurement_chunks (device_id, type, span_start);

CREATE TABLE rm_vehicle_event_chunks (
    device_id  text NOT NULL,
    span_start timestamptz NOT NULL,
    chunk_id   bigint NOT NULL DEFAULT nextval('rm_chunk_ids'),
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    events     integer NOT NULL,
    data       bytea NOT NULL
) PARTITION BY RANGE (span_start);
CREATE INDEX rm_vehicle_event_chunks_device_idx ON rm_vehicle_event_chunks (device_id, span_start);

-- Where a vehicle's event is, by a 64-bit hash of (device, eid): a look-up
-- by eid reads the chunks of that instant and matches the eid exactly.
CREATE TABLE rm_vehicle_event_ids (
    eid_hash    bigint NOT NULL,
    occurred_at timestamptz NOT NULL
) PARTITION BY RANGE (occurred_at);
CREATE INDEX rm_vehicle_event_ids_hash_idx ON rm_vehicle_event_ids (eid_hash);

-- Hourly aggregates, now partitioned by hour for their retention.
CREATE TABLE rm_hourly (
    device_id text NOT NULL,
    name      text NOT NULL,
    hour      timestamptz NOT NULL,
    count     bigint NOT NULL,
    sum       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    PRIMARY KEY (device_id, name, hour)
) PARTITION BY RANGE (hour);

-- From when each partitioned read model keeps rows (its oldest partition's
-- start): the read API says so when asked for more.
CREATE TABLE rm_retention (
    table_name text PRIMARY KEY,
    kept_from  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE rm_retention;
DROP TABLE rm_hourly;
DROP TABLE rm_vehicle_event_ids;
DROP TABLE rm_vehicle_event_chunks;
DROP TABLE rm_measurement_chunks;
DROP SEQUENCE rm_chunk_ids;
ALTER INDEX rm_hourly_v1_pkey RENAME TO rm_hourly_pkey;
ALTER TABLE rm_hourly_v1 RENAME TO rm_hourly;
ALTER TABLE rm_vehicle_events_v1 RENAME TO rm_vehicle_events;
ALTER TABLE rm_measurements_v1 RENAME TO rm_measurements;
