-- +goose Up
-- Read models. Projectors write them together with their checkpoint in one
-- transaction; the read API reads nothing else.
CREATE TABLE projection_checkpoints (
    name       text PRIMARY KEY,
    commit_pos bigint NOT NULL DEFAULT 0,
    prepare_pos bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rm_devices (
    device_id      text PRIMARY KEY,
    kind           text NOT NULL,
    name           text NOT NULL,
    lat            double precision,
    lon            double precision,
    timezone       text NOT NULL DEFAULT '',
    vin            text NOT NULL DEFAULT '',
    plate          text NOT NULL DEFAULT '',
    model          text NOT NULL DEFAULT '',
    version        bigint NOT NULL,
    decommissioned boolean NOT NULL DEFAULT false,
    registered_at  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX rm_devices_kind_idx ON rm_devices (kind, device_id);

-- Two readings at the same instant are two rows, as the aggregates count them.
CREATE TABLE rm_measurements (
    device_id      text NOT NULL,
    type           text NOT NULL,
    measured_at    timestamptz NOT NULL,
    value          double precision NOT NULL,
    measurement_id text NOT NULL,
    PRIMARY KEY (device_id, measurement_id)
);
CREATE INDEX rm_measurements_series_idx ON rm_measurements (device_id, type, measured_at) INCLUDE (value);

CREATE TABLE rm_vehicle_events (
    device_id   text NOT NULL,
    eid         text NOT NULL,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    readings    jsonb,
    lat         double precision,
    lon         double precision,
    data        jsonb,
    PRIMARY KEY (device_id, eid)
);
CREATE INDEX rm_vehicle_events_time_idx ON rm_vehicle_events (device_id, occurred_at DESC, eid DESC);

-- Daily aggregates per (device, measurement type or reading name, local day
-- in the device's time zone).
CREATE TABLE rm_daily (
    device_id text NOT NULL,
    name      text NOT NULL,
    day       date NOT NULL,
    count     bigint NOT NULL,
    sum       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    PRIMARY KEY (device_id, name, day)
);

CREATE TABLE rm_latest (
    device_id   text NOT NULL,
    name        text NOT NULL,
    value       double precision NOT NULL,
    measured_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, name)
);

-- +goose Down
DROP TABLE rm_latest;
DROP TABLE rm_daily;
DROP TABLE rm_vehicle_events;
DROP TABLE rm_measurements;
DROP TABLE rm_devices;
DROP TABLE projection_checkpoints;
