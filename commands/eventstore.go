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
	// AppendTelemetry stores a batch of one device's telemetry items at the
	// end of stream as ONE event with id eventID, leaving out every item
	// whose key (domain.TelemetryItemKey) is already stored or repeated
	// within the batch: those are listed by item id in Duplicates. When
	// every item is a duplicate nothing is appended. How long a key is
	// remembered is the store's documented de-duplication horizon.
	AppendTelemetry(ctx context.Context, stream, eventID string, batch domain.TelemetryBatch) (domain.AppendResult, error)
}

// ItemFinder is an optional capability of an event store: the recorded
// event holding a device's telemetry item (key is its
// domain.TelemetryItemKey). With it, a correction of a measurement never
// recorded is refused, and a correction names the measurement's type and
// time; without it, such a correction is stored and changes nothing.
type ItemFinder interface {
	FindTelemetryItem(ctx context.Context, stream, itemID, key string) (domain.RecordedEvent, bool, error)
}
