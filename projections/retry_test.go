package projections_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/retry"
	"github.com/fleetpulse/fleetpulse/projections"
)

// failingStore fails the first failures batches it is asked to apply.
type failingStore struct {
	projections.ReadModelStore
	mu       sync.Mutex
	failures int
	applies  int
}

var errStoreAway = errors.New("read-model store away")

func (f *failingStore) Apply(ctx context.Context, name string, from, to domain.Position, ch *projections.Changes) error {
	f.mu.Lock()
	f.applies++
	fail := f.applies <= f.failures
	f.mu.Unlock()
	if fail {
		return errStoreAway
	}
	return f.ReadModelStore.Apply(ctx, name, from, to, ch)
}

func TestProjector_RunRetriesAFailedBatchFromItsCheckpointUntilItCommits(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "st", "")
	e.record(t, "st", domain.Measurement{Type: "pm25", Value: 1, MeasuredAt: at("2026-01-01T10:00:00Z")})
	head := e.head(t)

	store := &failingStore{ReadModelStore: e.rms, failures: 3}
	p := projections.NewProjector(e.store, noWait{}, store, quiet,
		projections.Config{Retry: retry.Doubling(time.Millisecond, 4*time.Millisecond)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp, err := e.rms.Checkpoint(context.Background(), projections.ReadModels)
		if err != nil {
			t.Fatal(err)
		}
		if cp == head {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %s never reached the head %s", cp, head)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil after its context ended", err)
	}
	if store.applies < 4 {
		t.Fatalf("%d applies, want the 3 failed ones and the one that committed", store.applies)
	}
}

func TestProjector_RunWithoutARetryReturnsTheFailedBatchsError(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "st", "")
	p := projections.NewProjector(e.store, noWait{}, &failingStore{ReadModelStore: e.rms, failures: 1}, quiet, projections.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Run(ctx); !errors.Is(err, errStoreAway) {
		t.Fatalf("Run: %v, want the batch's error", err)
	}
}
