package esdb_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/esdb"
	"github.com/fleetpulse/fleetpulse/infra/eventstoretest"
)

// serverURL returns ESDB_URL or skips: there is no throwaway EventStoreDB.
func serverURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("ESDB_URL")
	if u == "" {
		t.Skip("EventStoreDB contract tests need a server: docker compose up -d eventstore, then " +
			"ESDB_URL=esdb://127.0.0.1:2113?tls=false go test ./infra/esdb/")
	}
	return u
}

func open(t *testing.T, opts ...esdb.Option) *esdb.Store {
	t.Helper()
	s := openURL(t, serverURL(t), opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Open tolerates a server that is not up; a test wants it up.
	if _, err := s.Head(ctx); err != nil {
		t.Fatalf("EventStoreDB at ESDB_URL not reachable: %v", err)
	}
	return s
}

// openURL opens a store closed when t ends; the server may be down.
func openURL(t *testing.T, url string, opts ...esdb.Option) *esdb.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := esdb.Open(ctx, url, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestEventStore_Contract runs the event store contract on the shared
// server; the suite keeps to streams of its own.
func TestEventStore_Contract(t *testing.T) {
	serverURL(t)
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store { return open(t) })
}

// TestEventStore_ContractOnAFakeServer runs the same contract against the
// in-memory fake: it checks the adapter's own logic (duplicate detection,
// chunking, paging, retries) where no EventStoreDB runs, not the server.
func TestEventStore_ContractOnAFakeServer(t *testing.T) {
	fake := newFakeServer(t)
	fake.start(t)
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store { return openURL(t, fake.url()) })
}

func TestAppend_ARetryThroughAnotherProcessIsReportedAsDuplicates(t *testing.T) {
	first, second := open(t), open(t) // second remembers nothing: it reads the stream's tail
	ctx := t.Context()
	stream := "contract-retry-" + uuid.NewString()
	batch := make([]domain.EventData, 3)
	for i := range batch {
		batch[i], _ = domain.NewEventData(uuid.NewString(), domain.MeasurementRecorded{MeasurementID: uuid.NewString()})
	}
	if _, err := first.Append(ctx, stream, domain.AnyVersion, batch); err != nil {
		t.Fatal(err)
	}
	res, err := second.Append(ctx, stream, domain.AnyVersion, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Duplicates) != 3 || res.NextVersion != 2 {
		t.Fatalf("retry: %+v, want 3 duplicates at version 2", res)
	}
}

func TestWait_ReturnsSoonAfterAnAppend(t *testing.T) {
	s := open(t, esdb.WithPollInterval(time.Minute))
	ctx := t.Context()
	// The first Wait starts the subscription; it returns when it is live
	// (it signals once on start) or after this short bound.
	warm, cancel := context.WithTimeout(ctx, 3*time.Second)
	s.Wait(warm)
	cancel()

	e, _ := domain.NewEventData(uuid.NewString(), domain.MeasurementRecorded{MeasurementID: uuid.NewString()})
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = s.Append(context.Background(), "contract-wait-"+uuid.NewString(), domain.AnyVersion, []domain.EventData{e})
	}()
	bound, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	s.Wait(bound)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Wait returned after %v, want soon after the append", d)
	}
}
