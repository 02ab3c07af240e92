-- +goose Up
-- The event log. Readers order it by (tx_id, position) and read only rows
-- whose transaction is older than every transaction still running
-- (pg_snapshot_xmin), so a concurrent commit can never be skipped.
CREATE TABLE event_streams (
    stream_id text PRIMARY KEY,
    version   bigint NOT NULL
);

CREATE TABLE events (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id          bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    event_id       uuid   NOT NULL,
    stream_id      text   NOT NULL,
    stream_version bigint NOT NULL,
    event_type     text   NOT NULL,
    schema_version smallint NOT NULL DEFAULT 1,
    data           jsonb  NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_log_order_idx ON events (tx_id, position);

-- +goose Down
DROP TABLE events;
DROP TABLE event_streams;
