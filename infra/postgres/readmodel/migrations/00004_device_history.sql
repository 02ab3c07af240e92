-- +goose Up
-- The audit trail of each device: lifecycle events and operators'
-- corrections, in log order, with what changed (never a token hash).
CREATE TABLE rm_device_history (
    device_id   text NOT NULL,
    commit_pos  bigint NOT NULL,
    prepare_pos bigint NOT NULL,
    event_type  text NOT NULL,
    at          timestamptz NOT NULL,
    version     bigint,
    details     jsonb NOT NULL,
    PRIMARY KEY (device_id, commit_pos, prepare_pos)
);

-- +goose Down
DROP TABLE rm_device_history;
