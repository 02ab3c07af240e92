package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

func event(t *testing.T, id string) domain.EventData {
	t.Helper()
	d, err := domain.NewEventData(id, domain.MeasurementRecorded{StationID: "s", MeasurementID: id, Type: "pm25", Value: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBatcher_SharedTransactionsKeepEachRequestsOutcome sends many
// concurrent requests (fresh, duplicate, conflicting) through shared
// transactions and checks that each gets the answer it would get alone.
func TestBatcher_SharedTransactionsKeepEachRequestsOutcome(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	b := eventstore.New(pool, eventstore.Config{Batcher: eventstore.BatcherConfig{Writers: 2, MaxEvents: 50}})
	defer b.Close()
	ctx := context.Background()

	dupID := uuid.NewString()
	if _, err := b.Append(ctx, "telemetry-x", domain.AnyVersion, []domain.EventData{event(t, dupID)}); err != nil {
		t.Fatal(err)
	}
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	results := make([]domain.AppendResult, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			switch i % 4 {
			case 0: // a new stream per request
				results[i], errs[i] = b.Append(ctx, fmt.Sprintf("device-%d", i), domain.NoStream, []domain.EventData{event(t, uuid.NewString())})
			case 1: // a stale version on an existing stream
				results[i], errs[i] = b.Append(ctx, "telemetry-x", 99, []domain.EventData{event(t, uuid.NewString())})
			case 2: // a duplicate with a fresh event
				results[i], errs[i] = b.Append(ctx, "telemetry-x", domain.AnyVersion, []domain.EventData{event(t, dupID), event(t, uuid.NewString())})
			case 3: // the same stream from many requests
				results[i], errs[i] = b.Append(ctx, "telemetry-y", domain.AnyVersion, []domain.EventData{event(t, uuid.NewString()), event(t, uuid.NewString())})
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		switch i % 4 {
		case 0:
			if errs[i] != nil || results[i].NextVersion != 0 {
				t.Errorf("request %d: %v %+v", i, errs[i], results[i])
			}
		case 1:
			if !errors.Is(errs[i], domain.ErrVersionConflict) {
				t.Errorf("request %d: got %v, want a version conflict", i, errs[i])
			}
		case 2:
			if errs[i] != nil || len(results[i].Duplicates) != 1 || results[i].Duplicates[0] != dupID {
				t.Errorf("request %d: %v %+v", i, errs[i], results[i])
			}
		case 3:
			if errs[i] != nil || len(results[i].Duplicates) != 0 {
				t.Errorf("request %d: %v %+v", i, errs[i], results[i])
			}
		}
	}
	// Stream versions are dense and match the events stored.
	for stream, want := range map[string]int{"telemetry-x": 1 + n/4, "telemetry-y": 2 * n / 4} {
		evs, err := b.ReadStream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != want {
			t.Fatalf("%s holds %d events, want %d", stream, len(evs), want)
		}
		for v, e := range evs {
			if e.StreamVersion != int64(v) {
				t.Fatalf("%s: event %d has version %d", stream, v, e.StreamVersion)
			}
		}
	}
}

func TestBatcher_CloseWritesWhatIsQueued(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	b := eventstore.New(pool, eventstore.Config{})
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Append(context.Background(), "s", domain.AnyVersion, []domain.EventData{event(t, uuid.NewString())}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b.Close()
	evs, _ := b.ReadStream(context.Background(), "s")
	if len(evs) != 100 {
		t.Fatalf("stored %d events, want 100", len(evs))
	}
	// After Close, appends still work (directly).
	if _, err := b.Append(context.Background(), "s", domain.AnyVersion, []domain.EventData{event(t, uuid.NewString())}); err != nil {
		t.Fatal(err)
	}
}

// TestBatcher_ARequestWhoseCallerGaveUpInTheQueueIsNotWritten keeps the only
// writer busy on a stream row locked by another transaction, lets a second
// request's caller give up while it waits in the queue, then frees the
// writer: the abandoned request must not be stored (its caller has told its
// client to retry).
func TestBatcher_ARequestWhoseCallerGaveUpInTheQueueIsNotWritten(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	b := eventstore.New(pool, eventstore.Config{Batcher: eventstore.BatcherConfig{Writers: 1}})
	defer b.Close()
	if _, err := b.Append(ctx, "held", domain.AnyVersion, []domain.EventData{event(t, uuid.NewString())}); err != nil {
		t.Fatal(err)
	}
	blocker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx) //nolint:errcheck // released below; this is for early failures
	if _, err := blocker.Exec(ctx, `SELECT 1 FROM event_streams WHERE stream_id = 'held' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	busy := make(chan error, 1)
	go func() {
		_, err := b.Append(ctx, "held", domain.AnyVersion, []domain.EventData{event(t, uuid.NewString())})
		busy <- err
	}()
	waitForLockWait(t, pool)

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	abandoned := uuid.NewString()
	if _, err := b.Append(short, "other", domain.AnyVersion, []domain.EventData{event(t, abandoned)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued behind a locked stream: %v, want the caller's deadline", err)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-busy; err != nil {
		t.Fatalf("the request holding the writer: %v", err)
	}
	later := uuid.NewString()
	if _, err := b.Append(ctx, "other", domain.AnyVersion, []domain.EventData{event(t, later)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, err := pool.Query(ctx, `SELECT event_id::text FROM events WHERE stream_id = 'other'`)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != later {
		t.Fatalf("stream holds %v, want only the later request's %s (abandoned: %s)", ids, later, abandoned)
	}
}

// waitForLockWait returns once a session of the test database waits for a lock.
func waitForLockWait(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never waited for the locked stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
