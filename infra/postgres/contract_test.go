package postgres_test

import (
	"context"
	"testing"

	"github.com/fleetpulse/fleetpulse/domain"

	"github.com/fleetpulse/fleetpulse/infra/eventstoretest"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestEventStore_Contract runs the event store contract on a fresh
// database per group of tests.
func TestEventStore_Contract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store {
		pool, _ := pgtest.NewDatabase(t)
		return postgres.NewEventStore(pool)
	})
}

// TestBatcher_Contract runs the same contract through the batching appender
// the command API uses.
func TestBatcher_Contract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store {
		pool, _ := pgtest.NewDatabase(t)
		store := postgres.NewEventStore(pool)
		b := postgres.NewBatcher(store, postgres.BatcherConfig{})
		t.Cleanup(b.Close)
		return batchingStore{Batcher: b, EventStore: store}
	})
}

type batchingStore struct {
	*postgres.Batcher
	*postgres.EventStore
}

func (s batchingStore) Append(ctx context.Context, stream string, expected int64, events []domain.EventData) (domain.AppendResult, error) {
	return s.Batcher.Append(ctx, stream, expected, events)
}

func (s batchingStore) ReadStream(ctx context.Context, stream string) ([]domain.RecordedEvent, error) {
	return s.EventStore.ReadStream(ctx, stream)
}
