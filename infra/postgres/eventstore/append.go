package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

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

	// The item keys are looked up one index probe each (a LATERAL with
	// LIMIT cannot become a hash join or one scan of the table). Written as
	// item_key = ANY($2), the planner scanned the whole day's partition
	// for every batch whenever the partition had no statistics (a day not
	// analyzed yet, or autovacuum off): a cost growing with the day's
	// items, which halved a 1 M-row import's rate.
	storedIDsAndItemKeysSQL = storedIDsSQL + `
UNION ALL
SELECT found.item_key::text FROM unnest($2::uuid[]) AS k(key),
LATERAL (SELECT item_key FROM telemetry_item_keys WHERE item_key = k.key LIMIT 1) AS found`

	// storedIDsAndLegacyItemKeysSQL also searches the keys recorded before
	// migration 00045, while any of them is within the horizon.
	storedIDsAndLegacyItemKeysSQL = storedIDsAndItemKeysSQL + `
UNION ALL
SELECT found.item_key::text FROM unnest($2::uuid[]) AS k(key),
LATERAL (SELECT item_key FROM telemetry_item_ids WHERE item_key = k.key LIMIT 1) AS found`

	setStreamVersionsSQL = `
UPDATE event_streams AS s SET version = v.version
FROM unnest($1::text[], $2::bigint[]) AS v(stream_id, version)
WHERE s.stream_id = v.stream_id`

	notifySQL = `SELECT pg_notify('` + notifyChannel + `', '')`
)

// appendRequest is one Append or AppendTelemetry call; a batch of them
// shares a transaction.
type appendRequest struct {
	stream   string
	expected int64
	events   []domain.EventData
	// telemetry, when set, is an AppendTelemetry call (events is then nil).
	telemetry *telemetryAppend
	result    domain.AppendResult
	err       error
	done      chan struct{}
	// caller is the context of the caller waiting in the batcher's queue: a
	// writer skips the request if the caller has stopped waiting.
	caller context.Context
	// queuedAt is when the request joined the batcher's queue.
	queuedAt time.Time
}

// telemetryAppend is a batch of a device's telemetry items, appended as one
// event of its items not stored before.
type telemetryAppend struct {
	eventID string
	batch   domain.TelemetryBatch
	ids     []string // the items' ids, in batch order
	keys    []string // their domain.TelemetryItemKey
	data    []byte   // the whole batch, encoded once: the usual case stores it as it is
}

func newAppendRequest(stream string, expected int64, events []domain.EventData) *appendRequest {
	r := &appendRequest{stream: stream, expected: expected, events: events, done: make(chan struct{})}
	if len(events) == 0 {
		r.err = fmt.Errorf("append to %s: no events: %w", stream, domain.ErrInvalid)
	}
	return r
}

func newTelemetryRequest(stream, eventID string, batch domain.TelemetryBatch) *appendRequest {
	r := &appendRequest{stream: stream, expected: domain.AnyVersion, done: make(chan struct{})}
	t := &telemetryAppend{eventID: eventID, batch: batch, ids: batch.ItemIDs(), keys: domain.TelemetryItemKeys(batch)}
	if len(t.ids) == 0 {
		r.err = fmt.Errorf("append to %s: no items: %w", stream, domain.ErrInvalid)
		return r
	}
	data, err := domain.NewEventData(eventID, batch)
	if err != nil {
		r.err = err
		return r
	}
	t.data = data.Data
	r.telemetry = t
	return r
}

// size is what the request weighs in a shared transaction: its events, or
// its items.
func (r *appendRequest) size() int {
	if r.telemetry != nil {
		return len(r.telemetry.ids)
	}
	return len(r.events)
}

// submit appends req in a transaction of its own or through the batcher.
func (s *Store) submit(ctx context.Context, req *appendRequest) (domain.AppendResult, error) {
	if req.err != nil {
		return domain.AppendResult{}, req.err
	}
	if s.batcher == nil {
		return s.appendAlone(ctx, req)
	}
	return s.batcher.append(ctx, req)
}

// appendAlone stores req in a transaction of its own.
func (s *Store) appendAlone(ctx context.Context, req *appendRequest) (domain.AppendResult, error) {
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
	if isNoPartition(err) {
		// Time moved past the partitions made, or they were dropped under
		// us: make them and try again.
		s.itemKeys.forget()
		if err = s.itemKeys.ensure(ctx, s.clock()); err == nil {
			if err = s.appendTx(ctx, reqs); err == nil {
				return
			}
		}
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

// isNoPartition reports an insert whose row has no partition to go to.
func isNoPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && strings.HasPrefix(pgErr.Message, "no partition of relation")
}

type eventRow struct {
	id, stream, typ string
	version         int64
	data            []byte
}

func (s *Store) appendTx(ctx context.Context, reqs []*appendRequest) error {
	streams := make([]string, 0, len(reqs))
	var ids, itemKeys []string
	seenStream := map[string]bool{}
	for _, r := range reqs {
		if !seenStream[r.stream] {
			seenStream[r.stream] = true
			streams = append(streams, r.stream)
		}
		for _, e := range r.events {
			ids = append(ids, e.ID)
		}
		if r.telemetry != nil {
			itemKeys = append(itemKeys, r.telemetry.keys...)
		}
	}
	if len(itemKeys) > 0 {
		// An item of the first log format is an event with its key as id;
		// a log that never held one is not searched for them.
		firstFormat, err := s.firstFormat.possible(ctx, s.pool)
		if err != nil {
			return err
		}
		if firstFormat {
			ids = append(ids, itemKeys...)
		}
	}
	// One reading of the clock: the partitions made are the ones the keys
	// are recorded in.
	recordedAt := s.clock()
	legacy := false
	if len(itemKeys) > 0 {
		if err := s.itemKeys.ensure(ctx, recordedAt); err != nil {
			return err
		}
		legacy = s.itemKeys.searchLegacy()
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
		known, err := storedIDs(ctx, tx, ids, itemKeys, legacy)
		if err != nil {
			return err
		}

		var (
			fresh     []eventRow
			freshKeys []string
		)
		for _, r := range reqs {
			current := versions[r.stream]
			if r.expected != domain.AnyVersion && r.expected != current {
				r.err = fmt.Errorf("stream %s is at version %d, expected %d: %w", r.stream, current, r.expected, domain.ErrVersionConflict)
				continue
			}
			r.result = domain.AppendResult{NextVersion: current}
			if t := r.telemetry; t != nil {
				var keep []int
				for i, k := range t.keys {
					if known[k] {
						r.result.Duplicates = append(r.result.Duplicates, t.ids[i])
						continue
					}
					known[k] = true
					keep = append(keep, i)
					freshKeys = append(freshKeys, k)
				}
				if len(keep) == 0 {
					continue
				}
				data := t.data
				if len(keep) < len(t.keys) {
					e, err := domain.NewEventData(t.eventID, t.batch.Select(keep))
					if err != nil {
						return err
					}
					data = e.Data
				}
				r.result.NextVersion++
				fresh = append(fresh, eventRow{id: t.eventID, stream: r.stream, typ: t.batch.EventType(), version: r.result.NextVersion, data: data})
				versions[r.stream] = r.result.NextVersion
				continue
			}
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
		if len(freshKeys) > 0 {
			keys, err := uuidArgs(freshKeys)
			if err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{itemKeysTable}, []string{"item_key", "recorded_at"},
				pgx.CopyFromSlice(len(keys), func(i int) ([]any, error) {
					return []any{keys[i], recordedAt}, nil
				})); err != nil {
				return fmt.Errorf("insert item keys: %w", err)
			}
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

// firstFormat says whether the log may hold telemetry items of the first
// log format: it did if it had events when migration 00008 ran, or if this
// store appended one since (tests of the upgrade do).
type firstFormat struct {
	mu       sync.Mutex
	known    bool
	possibly bool
}

func (f *firstFormat) possible(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.known {
		if err := db.QueryRow(ctx, `SELECT coalesce(max(until_position), 0) > 0 FROM telemetry_first_format`).Scan(&f.possibly); err != nil {
			return false, fmt.Errorf("read the log's format history: %w", err)
		}
		f.known = true
	}
	return f.possibly, nil
}

// appended notes events appended through Append: an item event of the
// first format makes the look-up necessary.
func (f *firstFormat) appended(events []domain.EventData) {
	for _, e := range events {
		if e.Type == domain.TypeMeasurementRecorded || e.Type == domain.TypeVehicleEventRecorded {
			f.mu.Lock()
			f.known, f.possibly = true, true
			f.mu.Unlock()
			return
		}
	}
}

// storedIDs returns which of ids are stored event ids, and which of
// itemKeys are stored item keys (also among the legacy ones when legacy),
// as one set.
func storedIDs(ctx context.Context, tx pgx.Tx, ids, itemKeys []string, legacy bool) (map[string]bool, error) {
	q, args := storedIDsSQL, []any{ids}
	if len(itemKeys) > 0 {
		keys, err := uuidArgs(itemKeys)
		if err != nil {
			return nil, err
		}
		q, args = storedIDsAndItemKeysSQL, []any{ids, keys}
		if legacy {
			q = storedIDsAndLegacyItemKeysSQL
		}
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find stored ids: %w", err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find stored ids: %w", err)
	}
	known := make(map[string]bool, len(stored)+len(ids))
	for _, id := range stored {
		known[id] = true
	}
	return known, nil
}

// uuidArgs returns item keys as UUID values, which pgx sends in binary as
// they are: a string for a uuid column is first tried as a UUID value,
// failed (an error built for each) and then sent as text, a quarter of a
// bulk import's CPU.
func uuidArgs(keys []string) ([]pgtype.UUID, error) {
	out := make([]pgtype.UUID, len(keys))
	for i, k := range keys {
		u, err := uuid.Parse(k)
		if err != nil {
			return nil, fmt.Errorf("item key %q: %w", k, err)
		}
		out[i] = pgtype.UUID{Bytes: u, Valid: true}
	}
	return out, nil
}
