// Package memstore is an in-memory event store for tests and examples. It is
// not durable: everything is gone when the process ends. It keeps the same
// contract as the PostgreSQL and EventStoreDB stores (infra/eventstoretest):
// expected versions, event ids stored once, per-stream and global order.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Store holds every stream in memory. It is safe for concurrent use; each
// Append is atomic, as one transaction of a real store is.
type Store struct {
	clock func() time.Time

	mu      sync.RWMutex
	log     []domain.RecordedEvent // every event, in append order
	streams map[string][]int       // indexes into log, in stream order
	ids     map[string]bool        // every stored event id
	items   map[string]int         // telemetry item key -> index into log
	appends uint64                 // appends that stored events so far
}

// New returns an empty store; clock stamps each event's RecordedAt.
func New(clock func() time.Time) *Store {
	return &Store{clock: clock, streams: make(map[string][]int), ids: make(map[string]bool), items: make(map[string]int)}
}

// Append stores events at the end of stream if the stream is at
// expectedVersion (domain.AnyVersion: no check; domain.NoStream: the stream
// must not exist). Events whose id is already stored, or repeated within the
// batch, are reported as duplicates and not stored again.
func (s *Store) Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return domain.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	if len(events) == 0 {
		return domain.AppendResult{}, fmt.Errorf("append to %s: no events: %w", stream, domain.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	current := int64(len(s.streams[stream])) - 1
	if expectedVersion != domain.AnyVersion && expectedVersion != current {
		return domain.AppendResult{}, fmt.Errorf("stream %s is at version %d, expected %d: %w",
			stream, current, expectedVersion, domain.ErrVersionConflict)
	}
	res := domain.AppendResult{NextVersion: current}
	// Positions mirror the PostgreSQL store's (transaction, event): Commit
	// numbers the append, Prepare the event; both only grow.
	commit := s.appends + 1
	at := s.clock().UTC()
	for _, e := range events {
		if s.ids[e.ID] {
			res.Duplicates = append(res.Duplicates, e.ID)
			continue
		}
		s.ids[e.ID] = true
		res.NextVersion++
		s.streams[stream] = append(s.streams[stream], len(s.log))
		s.log = append(s.log, domain.RecordedEvent{
			ID:            e.ID,
			StreamID:      stream,
			StreamVersion: res.NextVersion,
			Type:          e.Type,
			Data:          bytes.Clone(e.Data),
			Position:      domain.Position{Commit: commit, Prepare: uint64(len(s.log)) + 1},
			RecordedAt:    at,
		})
	}
	if res.NextVersion != current {
		s.appends = commit
	}
	return res, nil
}

// ReadStream returns a stream's events in order; none for a missing stream.
func (s *Store) ReadStream(ctx context.Context, stream string) ([]domain.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx := s.streams[stream]
	out := make([]domain.RecordedEvent, len(idx))
	for i, at := range idx {
		out[i] = copyEvent(s.log[at])
	}
	return out, nil
}

// AppendTelemetry stores the batch's items not stored before as one event
// (see commands.EventStore); item keys are kept forever.
func (s *Store) AppendTelemetry(ctx context.Context, stream, eventID string, batch domain.TelemetryBatch) (domain.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return domain.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	ids := batch.ItemIDs()
	if len(ids) == 0 {
		return domain.AppendResult{}, fmt.Errorf("append to %s: no items: %w", stream, domain.ErrInvalid)
	}
	keys := domain.TelemetryItemKeys(batch)
	s.mu.Lock()
	defer s.mu.Unlock()
	res := domain.AppendResult{NextVersion: int64(len(s.streams[stream])) - 1}
	var fresh []int
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		_, stored := s.items[k]
		if stored || seen[k] || s.ids[k] { // s.ids: items of the first log format
			res.Duplicates = append(res.Duplicates, ids[i])
			continue
		}
		seen[k] = true
		fresh = append(fresh, i)
	}
	if len(fresh) == 0 {
		return res, nil
	}
	kept := batch
	if len(fresh) < len(keys) {
		kept = batch.Select(fresh)
	}
	data, err := domain.NewEventData(eventID, kept)
	if err != nil {
		return domain.AppendResult{}, err
	}
	if s.ids[eventID] {
		return domain.AppendResult{}, fmt.Errorf("append to %s: event id %s is taken: %w", stream, eventID, domain.ErrInvalid)
	}
	s.ids[eventID] = true
	s.appends++
	at := len(s.log)
	res.NextVersion++
	s.streams[stream] = append(s.streams[stream], at)
	s.log = append(s.log, domain.RecordedEvent{ID: eventID, StreamID: stream, StreamVersion: res.NextVersion, Type: data.Type,
		Data: data.Data, Position: domain.Position{Commit: s.appends, Prepare: uint64(at) + 1}, RecordedAt: s.clock().UTC()})
	for _, i := range fresh {
		s.items[keys[i]] = at
	}
	return res, nil
}

// FindTelemetryItem returns the event holding a telemetry item (see
// commands.ItemFinder).
func (s *Store) FindTelemetryItem(ctx context.Context, stream, itemID, key string) (domain.RecordedEvent, bool, error) {
	if err := ctx.Err(); err != nil {
		return domain.RecordedEvent{}, false, fmt.Errorf("find item %s: %w", itemID, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if at, ok := s.items[key]; ok && s.log[at].StreamID == stream {
		return copyEvent(s.log[at]), true, nil
	}
	for _, at := range s.streams[stream] { // the first log format: one event per item
		if s.log[at].ID == key {
			return copyEvent(s.log[at]), true, nil
		}
	}
	return domain.RecordedEvent{}, false, nil
}

// ReadAfter returns up to limit events that follow after, in append order.
func (s *Store) ReadAfter(ctx context.Context, after domain.Position, limit int) ([]domain.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read log after %s: %w", after, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	from := sort.Search(len(s.log), func(i int) bool { return after.Less(s.log[i].Position) })
	n := min(len(s.log)-from, max(limit, 0))
	out := make([]domain.RecordedEvent, n)
	for i := range out {
		out[i] = copyEvent(s.log[from+i])
	}
	return out, nil
}

// Head returns the position of the last event (domain.Start for an empty
// store). Every event is readable as soon as its Append returns.
func (s *Store) Head(ctx context.Context) (domain.Position, error) {
	if err := ctx.Err(); err != nil {
		return domain.Position{}, fmt.Errorf("read log head: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.log) == 0 {
		return domain.Start, nil
	}
	return s.log[len(s.log)-1].Position, nil
}

// copyEvent keeps callers from changing what the store holds.
func copyEvent(e domain.RecordedEvent) domain.RecordedEvent {
	e.Data = bytes.Clone(e.Data)
	return e
}
