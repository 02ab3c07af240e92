-- +goose Up
-- Partitioned projectors (FLEETPULSE_PROJECTOR_SHARES > 1) commit
-- independently, so one share's positions can be below what another has
-- already committed: each change is recorded with the share that wrote it,
-- and the read API follows each share's changes with a cursor of its own.
-- A device belongs to one share, so its own changes stay in log order.
ALTER TABLE rm_live_changes ADD COLUMN share integer NOT NULL DEFAULT 0;
CREATE INDEX rm_live_changes_share_idx ON rm_live_changes (share, commit_pos, prepare_pos, device_id);

-- The newest position pruned, per share.
CREATE TABLE rm_live_floors (
    share       integer PRIMARY KEY,
    commit_pos  bigint NOT NULL,
    prepare_pos bigint NOT NULL
);
INSERT INTO rm_live_floors (share, commit_pos, prepare_pos)
SELECT 0, commit_pos, prepare_pos FROM rm_live_floor;
DROP TABLE rm_live_floor;

-- +goose Down
CREATE TABLE rm_live_floor (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    commit_pos  bigint NOT NULL,
    prepare_pos bigint NOT NULL
);
INSERT INTO rm_live_floor (commit_pos, prepare_pos)
SELECT coalesce(max(commit_pos), 0), coalesce(max(prepare_pos), 0) FROM rm_live_floors;
DROP TABLE rm_live_floors;
DROP INDEX rm_live_changes_share_idx;
ALTER TABLE rm_live_changes DROP COLUMN share;
