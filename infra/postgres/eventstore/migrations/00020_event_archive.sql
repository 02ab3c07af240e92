-- +goose Up
-- Archive files: stretches of the log whose telemetry events were moved to
-- Parquet files (infra/archive) and deleted from events in the same
-- transaction that inserted the file's row here. Readers take the rows and
-- the remaining events from one snapshot, so every event is read from
-- exactly one of the two. Files never overlap: each starts after the last.
CREATE TABLE event_archive (
    file           text PRIMARY KEY,
    first_commit   bigint NOT NULL,
    first_prepare  bigint NOT NULL,
    last_commit    bigint NOT NULL,
    last_prepare   bigint NOT NULL,
    events         bigint NOT NULL,
    items          bigint NOT NULL,
    bytes          bigint NOT NULL,
    sha256         text NOT NULL,
    schema_version int NOT NULL,
    recorded_from  timestamptz NOT NULL,
    recorded_until timestamptz NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX event_archive_last_idx ON event_archive (last_commit, last_prepare);

-- +goose Down
DROP TABLE event_archive;
