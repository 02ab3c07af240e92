-- +goose Up
-- What each projector commit changed, per device, kept for a short while
-- (the writer prunes it): the read API's live push reads the rows after a
-- commit notification, and a client that reconnects with the position it
-- last saw (SSE Last-Event-ID) reads what it missed from here.
CREATE TABLE rm_live_changes (
    commit_pos   bigint NOT NULL, -- the batch's last log position
    prepare_pos  bigint NOT NULL,
    device_id    text NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    data         bytea NOT NULL,  -- JSON: the device's new points, events and alerts
    PRIMARY KEY (commit_pos, prepare_pos, device_id)
);
CREATE INDEX rm_live_changes_device_idx ON rm_live_changes (device_id, commit_pos, prepare_pos);

-- The newest position pruned from rm_live_changes: a client that last saw
-- an older one cannot resume without a gap and is told to reload.
CREATE TABLE rm_live_floor (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    commit_pos  bigint NOT NULL,
    prepare_pos bigint NOT NULL
);
INSERT INTO rm_live_floor (commit_pos, prepare_pos) VALUES (0, 0);

-- +goose Down
DROP TABLE rm_live_floor;
DROP TABLE rm_live_changes;
