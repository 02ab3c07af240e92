package memstore_test

import (
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/infra/eventstoretest"
	"github.com/fleetpulse/fleetpulse/infra/memstore"
	"github.com/fleetpulse/fleetpulse/projections"
)

// The ports the store stands in for.
var (
	_ commands.EventStore  = (*memstore.Store)(nil)
	_ commands.ItemFinder  = (*memstore.Store)(nil)
	_ projections.EventLog = (*memstore.Store)(nil)
	_ eventstoretest.Store = (*memstore.Store)(nil)
)

// TestMemStore_Contract runs the event store contract on a fresh store per
// group of tests.
func TestMemStore_Contract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store {
		return memstore.New(time.Now)
	})
}
