-- +goose Up
-- "As of" queries: when each raw measurement entered the log, and every
-- value a correction or retraction replaced, with when it was replaced.
-- Rows projected before this migration have no recorded_at (a rebuild
-- fills it); as-of queries treat them as recorded at the beginning of time.
ALTER TABLE rm_measurements ADD COLUMN recorded_at timestamptz;

CREATE TABLE rm_measurement_revisions (
    revision       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id      text NOT NULL,
    measurement_id text NOT NULL,
    type           text NOT NULL,
    measured_at    timestamptz NOT NULL,
    recorded_at    timestamptz,          -- when the measurement was first recorded
    value          double precision NOT NULL, -- the value until superseded_at
    superseded_at  timestamptz NOT NULL, -- when a correction or retraction was recorded
    retracted      boolean NOT NULL      -- superseded by a retraction
);
CREATE INDEX rm_measurement_revisions_id_idx ON rm_measurement_revisions (device_id, measurement_id, superseded_at);
CREATE INDEX rm_measurement_revisions_series_idx ON rm_measurement_revisions (device_id, type, measured_at) WHERE retracted;

-- +goose Down
DROP TABLE rm_measurement_revisions;
ALTER TABLE rm_measurements DROP COLUMN recorded_at;
