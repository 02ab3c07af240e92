package domain

import (
	"fmt"
	"time"
)

// Expected stream versions for an append. A value >= 0 is the exact version
// the stream must be at (the version of its last event).
const (
	AnyVersion int64 = -2 // no check: telemetry streams
	NoStream   int64 = -1 // the stream must not exist yet
)

// EventData is an event ready to be appended: its id makes the append
// idempotent, its bytes are the event's JSON.
type EventData struct {
	ID   string // a UUID
	Type string
	Data []byte
}

// NewEventData encodes e for the log.
func NewEventData(id string, e Event) (EventData, error) {
	b, err := MarshalEvent(e)
	if err != nil {
		return EventData{}, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	return EventData{ID: id, Type: e.EventType(), Data: b}, nil
}

// Position orders the global log. PostgreSQL fills it with (transaction id,
// sequence); EventStoreDB with (commit, prepare). Compare with Less.
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Start is the position before the first event.
var Start = Position{}

// Less reports whether p comes before q in the log.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

func (p Position) String() string { return fmt.Sprintf("%d/%d", p.Commit, p.Prepare) }

// RecordedEvent is an event as the log holds it.
type RecordedEvent struct {
	ID            string
	StreamID      string
	StreamVersion int64
	Type          string
	Data          []byte
	Position      Position
	RecordedAt    time.Time
	// Decoded, when set, is the event Data holds, already decoded by a
	// reader that had it in that form (the archive rebuilds Data from
	// it): Decode then skips parsing Data.
	Decoded Event
}

// Decode returns the domain event the record holds, in its current shape
// (see Upcast). DecodeEvent reads exactly what is stored.
func (r RecordedEvent) Decode() (Event, error) {
	if r.Decoded != nil {
		return Upcast(r.Decoded), nil
	}
	e, err := DecodeEvent(r.Type, r.Data)
	if err != nil {
		return nil, err
	}
	return Upcast(e), nil
}

// AppendResult says what an append did.
type AppendResult struct {
	// NextVersion is the stream's version after the append.
	NextVersion int64
	// Duplicates lists the ids of events that were already stored (or repeated
	// within the batch); they were not stored again.
	Duplicates []string
}

// ArchivedRange is a stretch of the log whose telemetry events were moved
// out of the event store into one archive file: events from First to Last
// in log order (the other events of the stretch stay in the store). The
// store records it in the same transaction that deletes the events, so an
// event is always in exactly one of the two.
type ArchivedRange struct {
	File          string // the file's key in the archive
	First, Last   Position
	Events        int64 // telemetry events in the file
	Items         int64 // measurements and vehicle events in them (rows)
	Bytes         int64
	SHA256        string // hex of the file's bytes
	SchemaVersion int
	// RecordedFrom and RecordedUntil bound the events' recorded times.
	RecordedFrom, RecordedUntil time.Time
	ArchivedAt                  time.Time
}
