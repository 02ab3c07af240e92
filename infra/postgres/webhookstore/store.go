// Package webhookstore is the PostgreSQL side of alert webhooks: the
// webhook dispatcher's checkpoint, endpoint table and outbox, committed
// together (commands.WebhookOutbox); the queue the delivery workers take
// deliveries from and record attempts in (infra/webhook's Queue); and the
// delivery log the command API serves. Its tables come with the read
// models' migrations (00035_webhooks.sql).
package webhookstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

// CheckpointName is the dispatcher's row in projection_checkpoints.
const CheckpointName = "webhooks"

const (
	ensureCheckpointSQL = `INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`
	readCheckpointSQL   = `SELECT commit_pos, prepare_pos FROM projection_checkpoints WHERE name = $1`
	moveCheckpointSQL   = `
UPDATE projection_checkpoints
SET commit_pos = $4, prepare_pos = $5, events = events + $6, updated_at = now()
WHERE name = $1 AND commit_pos = $2 AND prepare_pos = $3`

	liveSQL     = `SELECT webhook_id, url, secret, types, devices, state = 'active' FROM webhook_endpoints WHERE state <> 'removed' ORDER BY webhook_id`
	registerSQL = `
INSERT INTO webhook_endpoints (webhook_id, url, secret, types, devices) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (webhook_id) DO NOTHING`
	endSQL = `UPDATE webhook_endpoints SET state = $2, updated_at = now() WHERE webhook_id = $1 AND state = 'active'`
	// enableSQL: a run of failures starts again from none, and the kept
	// deliveries are due at once.
	enableSQL = `UPDATE webhook_endpoints SET state = 'active', failures = 0, updated_at = now() WHERE webhook_id = $1 AND state = 'disabled'`
	dueNowSQL = `UPDATE webhook_outbox SET next_attempt_at = now() WHERE webhook_id = $1`
	listSQL   = `
SELECT webhook_id, url, types, devices, state, failures, updated_at,
       (SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = e.webhook_id)
FROM webhook_endpoints e WHERE state <> 'removed' ORDER BY webhook_id`
	dropPendingSQL = `DELETE FROM webhook_outbox WHERE webhook_id = $1`
	enqueueSQL     = `
INSERT INTO webhook_outbox (webhook_id, event_id, event_type, payload)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])
ON CONFLICT (webhook_id, event_id) DO NOTHING`

	pendingSQL = `
SELECT DISTINCT o.webhook_id FROM webhook_outbox o JOIN webhook_endpoints e USING (webhook_id) WHERE e.state = 'active'`
	endpointSQL = `SELECT webhook_id, url, secret, types, devices, state = 'active', failures FROM webhook_endpoints WHERE webhook_id = $1`
	headSQL     = `
SELECT delivery_id, webhook_id, event_id, event_type, payload, attempts, next_attempt_at
FROM webhook_outbox WHERE webhook_id = $1 AND delivery_id > $2 ORDER BY delivery_id LIMIT $3`
	logAttemptsSQL = `
INSERT INTO webhook_deliveries (webhook_id, delivery_id, event_id, event_type, attempt, status_code, error, duration_ms, attempted_at, delivered)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::float8[], $9::timestamptz[], $10::bool[])`
	deliveredSQL = `DELETE FROM webhook_outbox WHERE delivery_id = ANY($1)`
	resetSQL     = `UPDATE webhook_endpoints SET failures = 0 WHERE webhook_id = ANY($1) AND failures <> 0`
	failedSQL    = `UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = $2 WHERE delivery_id = $1`
	failureSQL   = `UPDATE webhook_endpoints SET failures = failures + 1 WHERE webhook_id = $1 RETURNING failures`

	pruneSQL = `DELETE FROM webhook_deliveries WHERE attempted_at < $1`
	knownSQL = `SELECT state <> 'removed' FROM webhook_endpoints WHERE webhook_id = $1`
	logSQL   = `
SELECT delivery_id, event_id, event_type, attempt, status_code, error, duration_ms, attempted_at, delivered
FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY attempted_at DESC, delivery_id DESC LIMIT $2`
)

// Store keeps webhooks in PostgreSQL.
type Store struct{ pool *pgxpool.Pool }

// New returns a store on a pool whose schema is migrated.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// WebhookCheckpoint returns where the dispatcher stands.
func (s *Store) WebhookCheckpoint(ctx context.Context) (domain.Position, error) {
	if _, err := s.pool.Exec(ctx, ensureCheckpointSQL, CheckpointName); err != nil {
		return domain.Position{}, postgres.Classify(fmt.Errorf("create webhook checkpoint: %w", err))
	}
	var commit, prepare int64
	if err := s.pool.QueryRow(ctx, readCheckpointSQL, CheckpointName).Scan(&commit, &prepare); err != nil {
		return domain.Position{}, postgres.Classify(fmt.Errorf("read webhook checkpoint: %w", err))
	}
	return domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, nil
}

// Webhooks returns the endpoints active and those disabled.
func (s *Store) Webhooks(ctx context.Context) (active, disabled []domain.Webhook, err error) {
	rows, err := s.pool.Query(ctx, liveSQL)
	if err != nil {
		return nil, nil, postgres.Classify(err)
	}
	var (
		w  domain.Webhook
		on bool
	)
	_, err = pgx.ForEachRow(rows, []any{&w.ID, &w.URL, &w.Secret, &w.Types, &w.Devices, &on}, func() error {
		if on {
			active = append(active, w)
		} else {
			disabled = append(disabled, w)
		}
		return nil
	})
	return active, disabled, postgres.Classify(err)
}

// List returns every endpoint not removed, without its secret, with the
// deliveries queued for it.
func (s *Store) List(ctx context.Context) ([]commands.WebhookSummary, error) {
	rows, err := s.pool.Query(ctx, listSQL)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	out := []commands.WebhookSummary{}
	var w commands.WebhookSummary
	_, err = pgx.ForEachRow(rows, []any{&w.ID, &w.URL, &w.Types, &w.Devices, &w.State, &w.Failures, &w.UpdatedAt, &w.Queued}, func() error {
		w.UpdatedAt = w.UpdatedAt.UTC()
		out = append(out, w)
		return nil
	})
	return out, postgres.Classify(err)
}

// CommitWebhooks applies a dispatched batch and moves the checkpoint, in
// one transaction.
func (s *Store) CommitWebhooks(ctx context.Context, from, to domain.Position, b *commands.WebhookBatch) error {
	return postgres.Classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, moveCheckpointSQL, CheckpointName, int64(from.Commit), int64(from.Prepare),
			int64(to.Commit), int64(to.Prepare), b.Events)
		if err != nil {
			return fmt.Errorf("move webhook checkpoint: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return commands.ErrWebhookCheckpointMoved
		}
		for _, w := range b.Registered {
			if _, err := tx.Exec(ctx, registerSQL, w.ID, w.URL, w.Secret, nonNil(w.Types), nonNil(w.Devices)); err != nil {
				return fmt.Errorf("project webhook %s: %w", w.ID, err)
			}
		}
		for _, id := range b.Disabled {
			if _, err := tx.Exec(ctx, endSQL, id, "disabled"); err != nil {
				return fmt.Errorf("disable webhook %s: %w", id, err)
			}
		}
		for _, id := range b.Enabled {
			if _, err := tx.Exec(ctx, enableSQL, id); err != nil {
				return fmt.Errorf("enable webhook %s: %w", id, err)
			}
			if _, err := tx.Exec(ctx, dueNowSQL, id); err != nil {
				return fmt.Errorf("enable webhook %s: %w", id, err)
			}
		}
		for _, id := range b.Removed {
			if _, err := tx.Exec(ctx, endSQL, id, "removed"); err != nil {
				return fmt.Errorf("remove webhook %s: %w", id, err)
			}
			if _, err := tx.Exec(ctx, dropPendingSQL, id); err != nil {
				return fmt.Errorf("drop deliveries of webhook %s: %w", id, err)
			}
		}
		if len(b.Deliveries) == 0 {
			return nil
		}
		n := len(b.Deliveries)
		hooks, events, types, payloads := make([]string, n), make([]string, n), make([]string, n), make([][]byte, n)
		for i, d := range b.Deliveries {
			hooks[i], events[i], types[i], payloads[i] = d.WebhookID, d.EventID, d.EventType, d.Payload
		}
		if _, err := tx.Exec(ctx, enqueueSQL, hooks, events, types, payloads); err != nil {
			return fmt.Errorf("enqueue webhook deliveries: %w", err)
		}
		return nil
	}))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PendingWebhooks lists the active endpoints with queued deliveries.
func (s *Store) PendingWebhooks(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, pendingSQL)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, postgres.Classify(err)
}

// Endpoint returns an endpoint as the workers see it; ok is false for an
// unknown one.
func (s *Store) Endpoint(ctx context.Context, id string) (commands.WebhookEndpoint, bool, error) {
	var e commands.WebhookEndpoint
	err := s.pool.QueryRow(ctx, endpointSQL, id).Scan(&e.ID, &e.URL, &e.Secret, &e.Types, &e.Devices, &e.Active, &e.Failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	return e, err == nil, postgres.Classify(err)
}

// NextDeliveries returns up to max of an endpoint's queued deliveries
// after delivery `after`, in the order they were dispatched.
func (s *Store) NextDeliveries(ctx context.Context, id string, after int64, max int) ([]commands.WebhookDelivery, error) {
	rows, err := s.pool.Query(ctx, headSQL, id, after, max)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	var out []commands.WebhookDelivery
	var d commands.WebhookDelivery
	_, err = pgx.ForEachRow(rows, []any{&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &d.Payload, &d.Attempts, &d.NextAttemptAt}, func() error {
		out = append(out, d)
		d.Payload = nil // ForEachRow reuses the scan targets
		return nil
	})
	return out, postgres.Classify(err)
}

// RecordDelivered logs delivered attempts, of any endpoints, takes their
// deliveries out of the outbox and resets their endpoints' runs of
// failures, in one transaction: the delivery workers of every endpoint
// share its commit.
func (s *Store) RecordDelivered(ctx context.Context, attempts []commands.WebhookAttempt) error {
	if len(attempts) == 0 {
		return nil
	}
	var hooks []string
	ids := make([]int64, len(attempts))
	for i, a := range attempts {
		ids[i] = a.DeliveryID
		if !slices.Contains(hooks, a.WebhookID) {
			hooks = append(hooks, a.WebhookID)
		}
	}
	return postgres.Classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := logAttempts(ctx, tx, attempts); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deliveredSQL, ids); err != nil {
			return fmt.Errorf("settle delivered webhooks: %w", err)
		}
		_, err := tx.Exec(ctx, resetSQL, hooks)
		return err
	}))
}

// RecordFailure logs a failed attempt, makes its delivery due again at
// retryAt and lengthens its endpoint's run of failures, which it returns.
func (s *Store) RecordFailure(ctx context.Context, a commands.WebhookAttempt, retryAt time.Time) (int, error) {
	failures := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := logAttempts(ctx, tx, []commands.WebhookAttempt{a}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, failedSQL, a.DeliveryID, retryAt); err != nil {
			return err
		}
		return tx.QueryRow(ctx, failureSQL, a.WebhookID).Scan(&failures)
	})
	return failures, postgres.Classify(err)
}

func logAttempts(ctx context.Context, tx pgx.Tx, attempts []commands.WebhookAttempt) error {
	n := len(attempts)
	hooks, ids, attempt, status := make([]string, n), make([]int64, n), make([]int32, n), make([]int32, n)
	events, types, errs := make([]string, n), make([]string, n), make([]string, n)
	ms, at, ok := make([]float64, n), make([]time.Time, n), make([]bool, n)
	for i, a := range attempts {
		hooks[i], ids[i], events[i], types[i] = a.WebhookID, a.DeliveryID, a.EventID, a.EventType
		attempt[i], status[i], errs[i] = int32(a.Attempt), int32(a.StatusCode), a.Error
		ms[i], at[i], ok[i] = float64(a.Duration)/float64(time.Millisecond), a.At, a.Delivered
	}
	if _, err := tx.Exec(ctx, logAttemptsSQL, hooks, ids, events, types, attempt, status, errs, ms, at, ok); err != nil {
		return fmt.Errorf("log webhook attempts: %w", err)
	}
	return nil
}

// Deliveries returns an endpoint's latest delivery attempts, newest first;
// ok is false when no endpoint (or a removed one) has that id.
func (s *Store) Deliveries(ctx context.Context, id string, limit int) ([]commands.WebhookAttempt, bool, error) {
	var known bool
	if err := s.pool.QueryRow(ctx, knownSQL, id).Scan(&known); errors.Is(err, pgx.ErrNoRows) || (err == nil && !known) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, postgres.Classify(err)
	}
	rows, err := s.pool.Query(ctx, logSQL, id, limit)
	if err != nil {
		return nil, false, postgres.Classify(err)
	}
	out := []commands.WebhookAttempt{}
	var a commands.WebhookAttempt
	var ms float64
	_, err = pgx.ForEachRow(rows, []any{&a.DeliveryID, &a.EventID, &a.EventType, &a.Attempt, &a.StatusCode, &a.Error, &ms, &a.At, &a.Delivered}, func() error {
		a.Duration = time.Duration(ms * float64(time.Millisecond))
		out = append(out, a)
		return nil
	})
	return out, true, postgres.Classify(err)
}

// PruneDeliveries deletes delivery-log entries attempted before `before`
// and returns how many.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, pruneSQL, before)
	return tag.RowsAffected(), postgres.Classify(err)
}

// deliveryLockKey is the advisory lock of the process that delivers.
const deliveryLockKey int64 = 0x666c7077686b // "flpwhk"

// LockDelivery tries to make this process the one that delivers webhooks:
// a session advisory lock, held on a connection of its own until unlock
// (or until that connection drops). ok is false while another process
// holds it.
func (s *Store) LockDelivery(ctx context.Context) (unlock func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, postgres.Classify(err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, deliveryLockKey).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, postgres.Classify(err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, deliveryLockKey); err != nil {
			conn.Conn().Close(ctx) // a closed session holds no lock
		}
		conn.Release()
	}, true, nil
}
