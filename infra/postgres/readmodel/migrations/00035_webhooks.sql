-- +goose Up
-- Alert webhooks (infra/postgres/webhookstore): the endpoints projected from
-- the webhook streams, the outbox of deliveries the webhook dispatcher
-- queues together with its checkpoint (projection_checkpoints 'webhooks'),
-- and each endpoint's delivery log.
CREATE TABLE webhook_endpoints (
    webhook_id text PRIMARY KEY,
    url        text NOT NULL,
    secret     text NOT NULL,          -- as given: deliveries are signed with it
    types      text[] NOT NULL DEFAULT '{}',
    devices    text[] NOT NULL DEFAULT '{}',
    state      text NOT NULL DEFAULT 'active', -- active, disabled, removed
    failures   integer NOT NULL DEFAULT 0,     -- failed attempts in a row
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_outbox (
    delivery_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      text NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    payload         bytea NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_outbox_queue_idx ON webhook_outbox (webhook_id, delivery_id);

CREATE TABLE webhook_deliveries (
    webhook_id   text NOT NULL,
    delivery_id  bigint NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    attempt      integer NOT NULL,
    status_code  integer NOT NULL DEFAULT 0, -- 0: no response
    error        text NOT NULL DEFAULT '',
    duration_ms  double precision NOT NULL,
    attempted_at timestamptz NOT NULL,
    delivered    boolean NOT NULL
);
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, attempted_at DESC);
CREATE INDEX webhook_deliveries_age_idx ON webhook_deliveries (attempted_at); -- pruning

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_outbox;
DROP TABLE webhook_endpoints;
