-- +goose Up
-- Bulk import jobs (infra/postgres/importjobs): an uploaded file is kept
-- here, in chunks, until its job is done, so that a job survives a restart of
-- the process running it. A job is claimed by one process at a time for a
-- lease it renews with each committed batch; a job whose lease ran out (its
-- process died) is claimed again and resumes from next_line.
CREATE TABLE import_jobs (
    id          text PRIMARY KEY,
    format      text NOT NULL,
    state       text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    body_bytes  bigint NOT NULL,
    rows        bigint NOT NULL DEFAULT 0,
    accepted    bigint NOT NULL DEFAULT 0,
    duplicates  bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    next_line   bigint NOT NULL DEFAULT 0,
    rejections  jsonb NOT NULL DEFAULT '[]',
    failure     text NOT NULL DEFAULT '',
    attempts    int NOT NULL DEFAULT 0,
    owner       text NOT NULL DEFAULT '',
    lease_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX import_jobs_pending_idx ON import_jobs (created_at) WHERE state IN ('queued', 'running');

-- The uploaded body, in order. Stored uncompressed: CSV compresses well, but
-- the body is read once and dropped, and compressing it costs the upload CPU.
CREATE TABLE import_job_chunks (
    job_id text NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    seq    int NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (job_id, seq)
);
ALTER TABLE import_job_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE import_job_chunks;
DROP TABLE import_jobs;
