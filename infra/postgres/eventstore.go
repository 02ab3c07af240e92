package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
)

// NotifyChannel is the LISTEN/NOTIFY channel that wakes log readers: one
// notification per appending transaction.
const NotifyChannel = "fleetpulse_events"

const (
	// lockStreamSQL creates the stream row if needed and locks it, returning
	// the stream's current version (-1 for a new stream).
	lockStreamSQL = `
INSERT INTO event_streams (stream_id, version) VALUES ($1, -1)
ON CONFLICT (stream_id) DO UPDATE SET version = event_streams.version
RETURNING version`

	// insertEventsSQL stores the events of one stream whose ids are not stored
	// yet (and the first of any id repeated in the batch), numbering them
	// after the current version; it returns the ids it stored.
	insertEventsSQL = `
WITH input AS (
    SELECT DISTINCT ON (id) id, type, data, ord
    FROM unnest($2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS t(id, type, data, ord)
    ORDER BY id, ord
), fresh AS (
    SELECT i.id, i.type, i.data, row_number() OVER (ORDER BY i.ord) AS n
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = i.id)
)
INSERT INTO events (event_id, stream_id, stream_version, event_type, data)
SELECT id, $1, $5::bigint + n, type, data::jsonb FROM fresh ORDER BY n
RETURNING event_id::text`

	setStreamVersionSQL = `UPDATE event_streams SET version = $2 WHERE stream_id = $1`

	notifySQL = `SELECT pg_notify('` + NotifyChannel + `', '')`

	readStreamSQL = `
SELECT event_id::text, stream_id, stream_version, event_type, data::text, tx_id, position, recorded_at
FROM events WHERE stream_id = $1 ORDER BY stream_version`

	// readAfterSQL reads the log in (tx_id, position) order, only rows of
	// transactions older than every running one: later commits of earlier
	// transactions can then never appear behind a reader's checkpoint.
	readAfterSQL = `
SELECT event_id::text, stream_id, stream_version, event_type, data::text, tx_id, position, recorded_at
FROM events
WHERE (tx_id, position) > ($1, $2)
  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
ORDER BY tx_id, position
LIMIT $3`

	// headSQL finds the last committed event; readers reach it once every
	// transaction that began before it has ended.
	headSQL = `SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1`
)

// EventStore is the PostgreSQL event store.
type EventStore struct {
	pool *pgxpool.Pool
}

// NewEventStore returns an event store on pool; run Migrate first.
func NewEventStore(pool *pgxpool.Pool) *EventStore {
	return &EventStore{pool: pool}
}

// Append stores events at the end of stream. See commands.EventStore.
func (s *EventStore) Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error) {
	if len(events) == 0 {
		return domain.AppendResult{}, fmt.Errorf("append to %s: no events: %w", stream, domain.ErrInvalid)
	}
	ids := make([]string, len(events))
	types := make([]string, len(events))
	datas := make([]string, len(events))
	for i, e := range events {
		ids[i], types[i], datas[i] = e.ID, e.Type, string(e.Data)
	}
	// A unique violation on event_id means another stream stored one of these
	// ids concurrently; the retry then sees it as a duplicate.
	for attempt := 0; ; attempt++ {
		res, err := s.appendOnce(ctx, stream, expectedVersion, ids, types, datas)
		var pgErr *pgconn.PgError
		if attempt < 3 && errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_event_id_key" {
			continue
		}
		return res, err
	}
}

func (s *EventStore) appendOnce(ctx context.Context, stream string, expectedVersion int64, ids, types, datas []string) (domain.AppendResult, error) {
	var res domain.AppendResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var current int64
		if err := tx.QueryRow(ctx, lockStreamSQL, stream).Scan(&current); err != nil {
			return fmt.Errorf("lock stream %s: %w", stream, err)
		}
		if expectedVersion != domain.AnyVersion && expectedVersion != current {
			return fmt.Errorf("stream %s is at version %d, expected %d: %w", stream, current, expectedVersion, domain.ErrVersionConflict)
		}
		rows, err := tx.Query(ctx, insertEventsSQL, stream, ids, types, datas, current)
		if err != nil {
			return fmt.Errorf("insert events into %s: %w", stream, err)
		}
		stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("insert events into %s: %w", stream, err)
		}
		res = domain.AppendResult{NextVersion: current + int64(len(stored)), Duplicates: duplicates(ids, stored)}
		if len(stored) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		b.Queue(setStreamVersionSQL, stream, res.NextVersion)
		b.Queue(notifySQL)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("finish append to %s: %w", stream, err)
		}
		return nil
	})
	if err != nil {
		return domain.AppendResult{}, classify(err)
	}
	return res, nil
}

// duplicates lists the ids not stored, in input order, once per repetition.
func duplicates(ids, stored []string) []string {
	fresh := make(map[string]bool, len(stored))
	for _, id := range stored {
		fresh[id] = true
	}
	var dups []string
	for _, id := range ids {
		if fresh[id] {
			delete(fresh, id) // a later repetition of a stored id is a duplicate
			continue
		}
		dups = append(dups, id)
	}
	return dups
}

// ReadStream returns a stream's events in order.
func (s *EventStore) ReadStream(ctx context.Context, stream string) ([]domain.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, readStreamSQL, stream)
	if err != nil {
		return nil, classify(fmt.Errorf("read stream %s: %w", stream, err))
	}
	evs, err := pgx.CollectRows(rows, scanRecorded)
	if err != nil {
		return nil, classify(fmt.Errorf("read stream %s: %w", stream, err))
	}
	return evs, nil
}

// ReadAfter returns up to max events that follow after in log order.
func (s *EventStore) ReadAfter(ctx context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, readAfterSQL, int64(after.Commit), int64(after.Prepare), max)
	if err != nil {
		return nil, classify(fmt.Errorf("read log after %s: %w", after, err))
	}
	evs, err := pgx.CollectRows(rows, scanRecorded)
	if err != nil {
		return nil, classify(fmt.Errorf("read log after %s: %w", after, err))
	}
	return evs, nil
}

// Head returns the position of the last committed event (domain.Start for
// an empty log).
func (s *EventStore) Head(ctx context.Context) (domain.Position, error) {
	var commit, prepare int64
	err := s.pool.QueryRow(ctx, headSQL).Scan(&commit, &prepare)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Start, nil
	}
	if err != nil {
		return domain.Position{}, classify(fmt.Errorf("read log head: %w", err))
	}
	return domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, nil
}

func scanRecorded(row pgx.CollectableRow) (domain.RecordedEvent, error) {
	var (
		r       domain.RecordedEvent
		data    string
		commit  int64
		prepare int64
	)
	if err := row.Scan(&r.ID, &r.StreamID, &r.StreamVersion, &r.Type, &data, &commit, &prepare, &r.RecordedAt); err != nil {
		return r, err
	}
	r.Data = []byte(data)
	r.Position = domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
	return r, nil
}

// classify marks errors that mean "PostgreSQL is not there right now" as
// domain.ErrUnavailable, so the APIs answer 503 instead of 500.
func classify(err error) error {
	if err == nil || errors.Is(err, domain.ErrVersionConflict) || errors.Is(err, domain.ErrInvalid) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57": // connection, resources, operator intervention (shutdown)
			return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
		}
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isConnectError(err) {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return err
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// Waiter wakes log readers when an append commits: LISTEN on one connection,
// with a polling fallback so a lost notification costs at most one interval.
type Waiter struct {
	pool     *pgxpool.Pool
	wake     chan struct{}
	interval time.Duration
}

// NewWaiter starts listening until ctx ends. interval is the polling fallback.
func NewWaiter(ctx context.Context, pool *pgxpool.Pool, interval time.Duration) *Waiter {
	w := &Waiter{pool: pool, wake: make(chan struct{}, 1), interval: interval}
	go w.listen(ctx)
	return w
}

func (w *Waiter) listen(ctx context.Context) {
	for ctx.Err() == nil {
		if err := w.listenOnce(ctx); err != nil && ctx.Err() == nil {
			// Polling keeps readers going; try LISTEN again shortly.
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (w *Waiter) listenOnce(ctx context.Context) error {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	defer func() {
		// A LISTENing connection must not go back to the pool as it is.
		_ = conn.Conn().Close(context.Background())
	}()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Wait returns when an append may have committed, after the polling
// interval, or when ctx ends.
func (w *Waiter) Wait(ctx context.Context) {
	t := time.NewTimer(w.interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}
