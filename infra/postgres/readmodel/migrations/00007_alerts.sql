-- +goose Up
-- Alerts and device presence, projected from the alert streams
-- (alerts-<device>) the alert evaluator writes.
CREATE TABLE rm_alerts (
    device_id  text NOT NULL,
    rule       text NOT NULL,
    type       text NOT NULL,
    raised_at  timestamptz NOT NULL, -- since when the threshold was exceeded
    cleared_at timestamptz,          -- null while the alert is active
    value      double precision NOT NULL,
    threshold  double precision NOT NULL,
    PRIMARY KEY (device_id, rule, raised_at)
);
CREATE INDEX rm_alerts_active_idx ON rm_alerts (raised_at DESC) WHERE cleared_at IS NULL;

-- A device without a row has never been reported silent.
CREATE TABLE rm_device_status (
    device_id        text PRIMARY KEY,
    online           boolean NOT NULL,
    last_measured_at timestamptz,
    since            timestamptz NOT NULL -- when it went silent or resumed
);

-- +goose Down
DROP TABLE rm_device_status;
DROP TABLE rm_alerts;
