package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

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

	notifySQL = `SELECT pg_notify('` + notifyChannel + `', '')`
)

// appendRequest is one Append call; a batch of them shares a transaction.
type appendRequest struct {
	stream   string
	expected int64
	events   []domain.EventData
	result   domain.AppendResult
	err      error
	done     chan struct{}
	// caller is the context of the caller waiting in the batcher's queue: a
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

// appendAlone stores events in a transaction of their own.
func (s *Store) appendAlone(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error) {
	req := newAppendRequest(stream, expectedVersion, events)
	if req.err != nil {
		return domain.AppendResult{}, req.err
	}
	s.appendBatch(ctx, []*appendRequest{req})
	return req.result, req.err
}

// appendBatch stores every request in one transaction. Each request is all
// or nothing: one with a stale expected version fails alone. Should the
// transaction fail as a whole, each request is retried on its own, so one
// request's problem never fails another's.
func (s *Store) appendBatch(ctx context.Context, reqs []*appendRequest) {
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
		reqs[0].result, reqs[0].err = domain.AppendResult{}, postgres.Classify(err)
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

func (s *Store) appendTx(ctx context.Context, reqs []*appendRequest) error {
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
