package eventstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/metrics/metricstest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

func TestBatcher_DescribesItsBatchesAndQueueWait(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	s := eventstore.New(pool, eventstore.Config{})
	defer s.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	const appends = 40
	var wg sync.WaitGroup
	for range appends {
		wg.Go(func() {
			if _, err := s.Append(context.Background(), "telemetry-x", domain.AnyVersion,
				[]domain.EventData{event(t, uuid.NewString()), event(t, uuid.NewString())}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Every append waited in the queue once; the batches together carried
	// every append and event.
	if got, _ := metricstest.Value(t, reg, "fleetpulse_eventstore_batch_wait_seconds", nil); got != appends {
		t.Errorf("queue waits observed: %v, want %d", got, appends)
	}
	for _, tt := range []struct {
		name string
		sum  float64
	}{{"fleetpulse_eventstore_batch_appends", appends}, {"fleetpulse_eventstore_batch_events", 2 * appends}} {
		if got := histogramSum(t, reg, tt.name); got != tt.sum {
			t.Errorf("%s: sum %v, want %v", tt.name, got, tt.sum)
		}
	}
	if n := len(eventstore.New(pool, eventstore.Config{Unbatched: true}).Collectors()); n != 0 {
		t.Errorf("an unbatched store has %d group-commit collectors, want none", n)
	}
}

func histogramSum(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	fs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}
