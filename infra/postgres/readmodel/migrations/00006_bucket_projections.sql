-- +goose Up
-- Extra bucket widths or zones an operator adds (fleetpulse projection
-- add): each fills itself from the whole log by a rebuild, with no change
-- to ingestion, and is kept live by the projector from then on.
CREATE TABLE projection_buckets (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
    width_seconds integer NOT NULL CHECK (width_seconds >= 60 AND 86400 % width_seconds = 0),
    zone          text NOT NULL DEFAULT '', -- '' = each device's own zone
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rm_buckets (
    projection text NOT NULL,
    device_id  text NOT NULL,
    name       text NOT NULL,
    start      timestamptz NOT NULL,
    count      bigint NOT NULL,
    sum        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    PRIMARY KEY (projection, device_id, name, start)
);

-- +goose Down
DROP TABLE rm_buckets;
DROP TABLE projection_buckets;
