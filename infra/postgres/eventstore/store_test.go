package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// waitForListener returns once a session of the test database has run LISTEN.
func waitForListener(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var listening int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&listening)
		if err != nil {
			t.Fatal(err)
		}
		if listening > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the store never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStore_WaitReturnsSoonAfterAnAppendAndCloseReleasesItsListenConnection(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	store := eventstore.New(pool, eventstore.Config{PollInterval: time.Minute})
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	store.Wait(short) // the first Wait starts listening
	cancel()
	waitForListener(t, pool)

	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = store.Append(context.Background(), "telemetry-wake", domain.AnyVersion, []domain.EventData{event(t, uuid.NewString())})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	store.Wait(ctx)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Wait returned after %v; want a notification well before the one-minute poll interval", d)
	}

	// The pool closes only once every connection is back: Close must have
	// given back the LISTEN connection.
	store.Close()
	closed := make(chan struct{})
	go func() { pool.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the pool did not close: a connection is still held after the store's Close")
	}
}

func TestStore_WaitWithoutNotificationsReturnsAfterThePollInterval(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	store := eventstore.New(pool, eventstore.Config{PollInterval: 50 * time.Millisecond})
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	store.Wait(ctx)
	if d := time.Since(start); d < 50*time.Millisecond || d > 10*time.Second {
		t.Fatalf("Wait returned after %v; want the 50ms poll interval", d)
	}
}

func TestStore_BacklogCountsTheEventsAfterAPosition(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	store := eventstore.New(pool, eventstore.Config{})
	defer store.Close()
	ctx := context.Background()
	if n, wait, err := store.Backlog(ctx, domain.Start); err != nil || n != 0 || wait != 0 {
		t.Fatalf("empty log: %d events, oldest waiting %v, %v; want 0, 0", n, wait, err)
	}
	for range 2 {
		if _, err := store.Append(ctx, "telemetry-b", domain.AnyVersion, []domain.EventData{event(t, uuid.NewString()), event(t, uuid.NewString())}); err != nil {
			t.Fatal(err)
		}
	}
	// ReadStream, unlike ReadAfter, does not wait for older transactions
	// (of any database of the server) to end.
	evs, err := store.ReadStream(ctx, "telemetry-b")
	if err != nil || len(evs) != 4 {
		t.Fatalf("read %d events, %v; want 4", len(evs), err)
	}
	for _, tt := range []struct {
		after domain.Position
		want  int64
	}{{domain.Start, 4}, {evs[0].Position, 3}, {evs[2].Position, 1}, {evs[3].Position, 0}} {
		n, wait, err := store.Backlog(ctx, tt.after)
		if err != nil || n != tt.want {
			t.Errorf("after %s: %d events, %v; want %d", tt.after, n, err, tt.want)
		}
		if (n == 0) != (wait == 0) || wait < 0 {
			t.Errorf("after %s: oldest waiting %v with %d events", tt.after, wait, n)
		}
	}
}

func TestStore_PingFailsOnceThePoolIsClosed(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	store := eventstore.New(pool, eventstore.Config{})
	if err := store.Ping(context.Background()); err != nil {
		t.Fatalf("open pool: %v", err)
	}
	store.Close()
	pool.Close()
	if err := store.Ping(context.Background()); err == nil {
		t.Fatal("closed pool: Ping passed")
	}
}
