package eventstore_test

import (
	"testing"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/infra/eventstoretest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// The command side looks this optional capability up with a type assertion:
// losing it would go unnoticed by the compiler elsewhere.
var _ commands.ItemFinder = (*eventstore.Store)(nil)

// TestEventStore_Contract runs the event store contract on a fresh
// database per group of tests, one transaction per append.
func TestEventStore_Contract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store {
		pool, _ := pgtest.NewDatabase(t)
		store := eventstore.New(pool, eventstore.Config{Unbatched: true})
		t.Cleanup(store.Close)
		return store
	})
}

// TestBatcher_Contract runs the same contract through the batching appender
// the command API uses.
func TestBatcher_Contract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store {
		pool, _ := pgtest.NewDatabase(t)
		store := eventstore.New(pool, eventstore.Config{})
		t.Cleanup(store.Close)
		return store
	})
}
