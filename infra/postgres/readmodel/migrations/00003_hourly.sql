-- +goose Up
-- Hourly aggregates per (device, type or reading, local hour). "hour" is
-- the instant the local hour starts in the device's time zone.
CREATE TABLE rm_hourly (
    device_id text NOT NULL,
    name      text NOT NULL,
    hour      timestamptz NOT NULL,
    count     bigint NOT NULL,
    sum       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    PRIMARY KEY (device_id, name, hour)
);

-- +goose Down
DROP TABLE rm_hourly;
