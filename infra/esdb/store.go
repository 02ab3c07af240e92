package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/config/redact"
)

const (
	// appendAttempts bounds the retries of an any-version append that keeps
	// losing the race for its stream; the last one goes without the check.
	appendAttempts = 5
	// maxAppendBytes keeps each append under EventStoreDB's default maximum
	// append size (1 MiB), with room for the per-event overhead.
	maxAppendBytes = 768 << 10
	// eventOverhead estimates what an event costs on top of its type and
	// data: id, content type, created date, framing.
	eventOverhead = 128
	// readAllPage is the most events one $all read asks for.
	readAllPage = 4096
)

// Store is the EventStoreDB event store. It is safe for concurrent use.
type Store struct {
	conn   *conn
	recent *recent
	logger *slog.Logger

	pollInterval time.Duration
	wake         chan struct{}
	watchOnce    sync.Once
	life         context.Context // ends at Close: stops the subscription
	stop         context.CancelFunc
	watching     sync.WaitGroup
}

type settings struct {
	pollInterval time.Duration
	dedupWindow  int
	dedupStreams int
}

// Option tunes a Store.
type Option func(*settings)

// WithPollInterval sets how long Wait waits at most when no subscription
// signal comes (default 1s): the fallback for lost signals.
func WithPollInterval(d time.Duration) Option {
	return func(s *settings) {
		if d > 0 {
			s.pollInterval = d
		}
	}
}

// WithDedupWindow sets how many latest ids per stream are checked for
// duplicates (default 256; a batch is always checked against at least its
// own size) and for how many streams they are kept in memory (default 4096).
func WithDedupWindow(events, streams int) Option {
	return func(s *settings) {
		if events > 0 {
			s.dedupWindow = events
		}
		if streams > 0 {
			s.dedupStreams = streams
		}
	}
}

// Open returns a store on the server connString names, e.g.
// esdb://127.0.0.1:2113?tls=false. It waits for a first connection until
// ctx ends, but a server that is not up yet is not an error: it is logged,
// calls fail with domain.ErrUnavailable, and each later call tries again.
func Open(ctx context.Context, connString string, logger *slog.Logger, opts ...Option) (*Store, error) {
	cfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		// The parser's error may quote the whole string, password included.
		return nil, fmt.Errorf("parse EventStoreDB connection string %s: %w", redact.URL(connString), redact.Error(err, connString))
	}
	cfg.Logger = logFunc(logger)
	set := settings{pollInterval: time.Second, dedupWindow: 256, dedupStreams: 4096}
	for _, o := range opts {
		o(&set)
	}
	life, stop := context.WithCancel(context.Background())
	s := &Store{
		conn:         newConn(*cfg, logger),
		recent:       newRecent(set.dedupWindow, set.dedupStreams),
		logger:       logger,
		pollInterval: set.pollInterval,
		wake:         make(chan struct{}, 1),
		life:         life,
		stop:         stop,
	}
	if err := s.conn.do(ctx, func(*esdb.Client) error { return nil }); err != nil {
		logger.Warn("EventStoreDB not reachable yet; will retry on use", "err", err)
	}
	return s, nil
}

// Close stops the subscription and closes the client.
func (s *Store) Close() {
	s.stop()
	s.watching.Wait()
	s.conn.close()
}

// Append stores events at the end of stream. See commands.EventStore, and
// the package doc for what duplicate detection covers.
func (s *Store) Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error) {
	if len(events) == 0 {
		return domain.AppendResult{}, fmt.Errorf("append to %s: no events: %w", stream, domain.ErrInvalid)
	}
	if _, err := expectedRevision(expectedVersion); err != nil {
		return domain.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	batch := make([]esdb.EventData, len(events))
	for i, e := range events {
		d, err := toEventData(e)
		if err != nil {
			return domain.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		batch[i] = d
	}
	dup := make([]bool, len(events))
	unique := firstOccurrences(batch, dup)

	var next int64
	err := s.conn.do(ctx, func(c *esdb.Client) error {
		var err error
		next, err = s.appendUnique(ctx, c, stream, expectedVersion, batch, unique, dup)
		return err
	})
	if err != nil {
		return domain.AppendResult{}, classify(ctx, fmt.Errorf("append to %s: %w", stream, err))
	}
	res := domain.AppendResult{NextVersion: next}
	for i, d := range dup {
		if d {
			res.Duplicates = append(res.Duplicates, events[i].ID)
		}
	}
	return res, nil
}

// firstOccurrences returns the indexes of the first occurrence of each id
// and marks later repeats in dup.
func firstOccurrences(batch []esdb.EventData, dup []bool) []int {
	seen := make(map[uuid.UUID]bool, len(batch))
	unique := make([]int, 0, len(batch))
	for i, e := range batch {
		if seen[e.EventID] {
			dup[i] = true
			continue
		}
		seen[e.EventID] = true
		unique = append(unique, i)
	}
	return unique
}

// appendUnique writes the events of batch at pending whose ids the stream
// does not hold yet, marks the others in dup, and returns the stream's
// version after the append.
func (s *Store) appendUnique(ctx context.Context, c *esdb.Client, stream string, expected int64,
	batch []esdb.EventData, pending []int, dup []bool) (int64, error) {
	expect := expected // the version the stream must be at; moves with our own chunks
	refresh := false
attempts:
	for attempt := 1; ; attempt++ {
		version, seen, fresh, err := s.streamState(ctx, c, stream, idsAt(batch, pending), refresh)
		if err != nil {
			return 0, err
		}
		if expect != domain.AnyVersion && version != expect {
			if !fresh {
				refresh = true // remembered state may lag behind other writers
				continue
			}
			return 0, fmt.Errorf("stream %s is at version %d, expected %d: %w", stream, version, expect, domain.ErrVersionConflict)
		}
		write := pending[:0:0]
		for k, i := range pending {
			if seen[k] {
				dup[i] = true // remembered ids were all stored
			} else {
				write = append(write, i)
			}
		}
		if len(write) == 0 {
			if !fresh {
				// Nothing to write proves nothing about the server: check
				// the real version (and expected version) before answering.
				refresh = true
				continue
			}
			return version, nil
		}
		pending = write
		unchecked := attempt > appendAttempts
		for len(pending) > 0 {
			chunk := pending[:chunkLen(batch, pending)]
			// ExpectedRevision defaults to Any: always pass one. Even an
			// any-version append is checked against the revision its
			// duplicate check saw, so no other writer slips in between.
			var rev esdb.ExpectedRevision = revisionAt(version)
			if unchecked {
				rev = esdb.Any{}
			}
			wr, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, pick(batch, chunk)...)
			if err != nil {
				s.recent.forget(stream) // the append may or may not have happened
				if isWrongExpectedVersion(err) && expected == domain.AnyVersion {
					refresh = true
					continue attempts
				}
				return 0, err
			}
			next := int64(wr.NextExpectedVersion)
			if unchecked {
				s.recent.forget(stream)
			} else {
				s.recent.appended(stream, version, next, idsAt(batch, chunk))
			}
			version = next
			if expect != domain.AnyVersion {
				expect = next
			}
			pending = pending[len(chunk):]
		}
		return version, nil
	}
}

// streamState returns stream's version and which of ids it holds among its
// latest events: from memory unless refresh, else (fresh) from the
// stream's tail.
func (s *Store) streamState(ctx context.Context, c *esdb.Client, stream string, ids []uuid.UUID, refresh bool) (version int64, seen []bool, fresh bool, err error) {
	if !refresh {
		if version, seen, ok := s.recent.check(stream, ids); ok {
			return version, seen, false, nil
		}
	}
	version, tail, err := readTail(ctx, c, stream, max(s.recent.window, len(ids)))
	if err != nil {
		return 0, nil, false, err
	}
	s.recent.load(stream, version, tail)
	version, seen, _ = s.recent.check(stream, ids)
	return version, seen, true, nil
}

// readTail returns the stream's version and the ids of its last n events,
// with the item keys of the telemetry batches among them, oldest first;
// domain.NoStream for a missing stream.
func readTail(ctx context.Context, c *esdb.Client, stream string, n int) (int64, []uuid.UUID, error) {
	rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, uint64(n))
	if err != nil {
		return 0, nil, fmt.Errorf("read tail of %s: %w", stream, err)
	}
	defer rs.Close()
	version := domain.NoStream
	ids := make([]uuid.UUID, 0, n)
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if isNotFound(err) {
			return domain.NoStream, nil, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read tail of %s: %w", stream, err)
		}
		r := ev.OriginalEvent()
		if version == domain.NoStream {
			version = int64(r.EventNumber)
		}
		ids = append(ids, r.EventID)
		ids = append(ids, itemKeysOf(r)...) // a telemetry batch's items
	}
	slices.Reverse(ids)
	return version, ids, nil
}

// revisionAt is the expected revision of a stream known to be at version.
func revisionAt(version int64) esdb.ExpectedRevision {
	if version < 0 {
		return esdb.NoStream{}
	}
	return esdb.Revision(uint64(version))
}

// chunkLen returns how many of the events at pending fit in one append
// (at least one: an event too large on its own is the server's to reject).
func chunkLen(batch []esdb.EventData, pending []int) int {
	size := 0
	for k, i := range pending {
		size += len(batch[i].Data) + len(batch[i].EventType) + len(batch[i].Metadata) + eventOverhead
		if size > maxAppendBytes && k > 0 {
			return k
		}
	}
	return len(pending)
}

func pick(batch []esdb.EventData, at []int) []esdb.EventData {
	out := make([]esdb.EventData, len(at))
	for k, i := range at {
		out[k] = batch[i]
	}
	return out
}

func idsAt(batch []esdb.EventData, at []int) []uuid.UUID {
	out := make([]uuid.UUID, len(at))
	for k, i := range at {
		out[k] = batch[i].EventID
	}
	return out
}

// ReadStream returns a stream's events in order; none for a missing stream.
func (s *Store) ReadStream(ctx context.Context, stream string) ([]domain.RecordedEvent, error) {
	var out []domain.RecordedEvent
	err := s.conn.do(ctx, func(c *esdb.Client) error {
		out = nil
		rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Start{}}, math.MaxInt64)
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if isNotFound(err) {
				return nil // ErrorCodeResourceNotFound: a missing stream is empty
			}
			if err != nil {
				return err
			}
			out = append(out, fromRecorded(ev.OriginalEvent()))
		}
	})
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("read stream %s: %w", stream, err))
	}
	return out, nil
}

// ReadAfter returns up to limit events that follow after in $all order,
// system events left out.
func (s *Store) ReadAfter(ctx context.Context, after domain.Position, limit int) ([]domain.RecordedEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []domain.RecordedEvent
	err := s.conn.do(ctx, func(c *esdb.Client) error {
		out = nil
		cursor := after // last position looked at, system events included
		for len(out) < limit {
			// +1: a read from a position returns the event at it again.
			count := min(limit-len(out)+1, readAllPage)
			n, err := readAllPageAfter(ctx, c, &cursor, count, func(r domain.RecordedEvent) bool {
				out = append(out, r)
				return len(out) < limit
			})
			if err != nil {
				return err
			}
			if n < count {
				return nil // the end of the log
			}
		}
		return nil
	})
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("read log after %s: %w", after, err))
	}
	return out, nil
}

// readAllPageAfter reads up to count records of $all from *cursor, hands
// the non-system events after *cursor to yield until it returns false,
// moves *cursor past every record it looked at, and returns how many
// records the server sent.
func readAllPageAfter(ctx context.Context, c *esdb.Client, cursor *domain.Position, count int,
	yield func(domain.RecordedEvent) bool) (int, error) {
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: allPosition(*cursor)}, uint64(count))
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	n := 0
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		r := ev.OriginalEvent()
		pos := fromPosition(r.Position)
		if !cursor.Less(pos) {
			continue // the record at the start position, seen before
		}
		*cursor = pos
		if isSystemEvent(r.EventType) {
			continue
		}
		if !yield(fromRecorded(r)) {
			return count, nil // caller is full; not the end of the log
		}
	}
}

// Ping is a cheap read of the log's head: readiness fails while the server
// is away.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.Head(ctx)
	return err
}

// Head returns the position of the last record in $all (domain.Start for
// an empty log): ReadAfter(Head) returns what is appended after the call.
func (s *Store) Head(ctx context.Context) (domain.Position, error) {
	var head domain.Position
	err := s.conn.do(ctx, func(c *esdb.Client) error {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			head = domain.Start
			return nil
		}
		if err != nil {
			return err
		}
		head = fromPosition(ev.OriginalEvent().Position)
		return nil
	})
	if err != nil {
		return domain.Position{}, classify(ctx, fmt.Errorf("read log head: %w", err))
	}
	return head, nil
}
