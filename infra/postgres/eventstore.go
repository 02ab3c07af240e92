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
	// lockStreamsSQL creates missing stream rows and locks every stream of
	// a batch in id order (writers locking in one order cannot deadlock),
	// returning each stream's current version (-1 for a new stream).
	lockStreamsSQL = `
INSERT INTO event_streams (stream_id, version)
SELECT s, -1 FROM unnest($1::text[]) AS s ORDER BY s
ON CONFLICT (stream_id) DO UPDATE SET version = event_streams.version
RETURNING stream_id, version`

	storedIDsSQL = `SELECT event_id::text FROM events WHERE event_id = ANY($1::uuid[])`

	setStreamVersionsSQL = `
UPDATE event_streams AS s SET version = v.version
FROM unnest($1::text[], $2::bigint[]) AS v(stream_id, version)
WHERE s.stream_id = v.stream_id`

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
	req := newAppendRequest(stream, expectedVersion, events)
	if req.err != nil {
		return domain.AppendResult{}, req.err
	}
	s.appendBatch(ctx, []*appendRequest{req})
	return req.result, req.err
}

// appendRequest is one Append call; a batch of them shares a transaction.
type appendRequest struct {
	stream   string
	expected int64
	events   []domain.EventData
	result   domain.AppendResult
	err      error
	done     chan struct{}
	// caller is the context of the caller waiting in a Batcher's queue: a
	// writer skips the request if the caller has stopped waiting.
	caller context.Context
}

func newAppendRequest(stream string, expected int64, events []domain.EventData) *appendRequest {
	r := &appendRequest{stream: stream, expected: expected, events: events, done: make(chan struct{})}
	if len(events) == 0 {
		r.err = fmt.Errorf("append to %s: no events: %w", stream, domain.ErrInvalid)
	}
	return r
}

// appendBatch stores every request in one transaction. Each request is all
// or nothing: one with a stale expected version fails alone. Should the
// transaction fail as a whole, each request is retried on its own, so one
// request's problem never fails another's.
func (s *EventStore) appendBatch(ctx context.Context, reqs []*appendRequest) {
	err := s.appendTx(ctx, reqs)
	if err == nil {
		return
	}
	if len(reqs) == 1 {
		// A unique violation on event_id means another writer stored one of
		// these ids concurrently; the retry then sees it as a duplicate.
		for attempt := 0; attempt < 3 && isEventIDRace(err); attempt++ {
			if err = s.appendTx(ctx, reqs); err == nil {
				return
			}
		}
		reqs[0].result, reqs[0].err = domain.AppendResult{}, classify(err)
		return
	}
	for _, r := range reqs {
		r.result, r.err = domain.AppendResult{}, nil
		s.appendBatch(ctx, []*appendRequest{r})
	}
}

func isEventIDRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_event_id_key"
}

type eventRow struct {
	id, stream, typ string
	version         int64
	data            []byte
}

func (s *EventStore) appendTx(ctx context.Context, reqs []*appendRequest) error {
	streams := make([]string, 0, len(reqs))
	var ids []string
	seenStream := map[string]bool{}
	for _, r := range reqs {
		if !seenStream[r.stream] {
			seenStream[r.stream] = true
			streams = append(streams, r.stream)
		}
		for _, e := range r.events {
			ids = append(ids, e.ID)
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		versions := make(map[string]int64, len(streams))
		rows, err := tx.Query(ctx, lockStreamsSQL, streams)
		if err != nil {
			return fmt.Errorf("lock streams: %w", err)
		}
		var (
			id      string
			version int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &version}, func() error {
			versions[id] = version
			return nil
		}); err != nil {
			return fmt.Errorf("lock streams: %w", err)
		}
		rows, err = tx.Query(ctx, storedIDsSQL, ids)
		if err != nil {
			return fmt.Errorf("find stored ids: %w", err)
		}
		stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("find stored ids: %w", err)
		}
		known := make(map[string]bool, len(stored)+len(ids))
		for _, id := range stored {
			known[id] = true
		}

		var fresh []eventRow
		for _, r := range reqs {
			current := versions[r.stream]
			if r.expected != domain.AnyVersion && r.expected != current {
				r.err = fmt.Errorf("stream %s is at version %d, expected %d: %w", r.stream, current, r.expected, domain.ErrVersionConflict)
				continue
			}
			r.result = domain.AppendResult{NextVersion: current}
			for _, e := range r.events {
				if known[e.ID] {
					r.result.Duplicates = append(r.result.Duplicates, e.ID)
					continue
				}
				known[e.ID] = true
				r.result.NextVersion++
				fresh = append(fresh, eventRow{id: e.ID, stream: r.stream, typ: e.Type, version: r.result.NextVersion, data: e.Data})
			}
			versions[r.stream] = r.result.NextVersion
		}
		if len(fresh) == 0 {
			return nil
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"},
			[]string{"event_id", "stream_id", "stream_version", "event_type", "data"},
			pgx.CopyFromSlice(len(fresh), func(i int) ([]any, error) {
				e := fresh[i]
				return []any{e.id, e.stream, e.version, e.typ, string(e.data)}, nil
			})); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		newVersions := make([]int64, len(streams))
		for i, st := range streams {
			newVersions[i] = versions[st]
		}
		b := &pgx.Batch{}
		b.Queue(setStreamVersionsSQL, streams, newVersions)
		b.Queue(notifySQL)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("finish append: %w", err)
		}
		return nil
	})
}

// EventExists reports whether an event id is stored.
func (s *EventStore) EventExists(ctx context.Context, id string) (bool, error) {
	var found bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE event_id = $1::uuid)`, id).Scan(&found); err != nil {
		return false, classify(fmt.Errorf("look up event %s: %w", id, err))
	}
	return found, nil
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
