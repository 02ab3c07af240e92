package commands

import (
	"context"

	"github.com/fleetpulse/fleetpulse/domain"
)

// EventStore is what handlers need from an event store.
type EventStore interface {
	// Append stores events at the end of stream if the stream is at
	// expectedVersion (domain.AnyVersion: no check). Events whose id is already
	// stored are reported in the result and not stored again. A stale
	// expectedVersion fails with domain.ErrVersionConflict.
	Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error)
	// ReadStream returns a stream's events in order; none for a missing stream.
	ReadStream(ctx context.Context, stream string) ([]domain.RecordedEvent, error)
}

// EventFinder is an optional capability of an event store: whether an event
// id is stored. With it, a correction of a measurement never recorded is
// refused; without it, such a correction is stored and changes nothing.
type EventFinder interface {
	EventExists(ctx context.Context, id string) (bool, error)
}
