package esdb

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

// noServer names a port nothing listens on: the connection is refused at
// once. One discovery attempt keeps each try short.
const noServer = "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1&discoveryInterval=10"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOpen_AServerThatIsNotUpIsNotAnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, noServer, quiet())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	// Each call tries again and fails as unavailable: the client that could
	// not connect is not kept (it would stay closed for good).
	for range 2 {
		e, _ := domain.NewEventData(uuid.NewString(), domain.MeasurementRecorded{})
		if _, err := s.Append(ctx, "telemetry-x", domain.AnyVersion, []domain.EventData{e}); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("Append: %v, want domain.ErrUnavailable", err)
		}
		if _, err := s.ReadAfter(ctx, domain.Start, 10); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("ReadAfter: %v, want domain.ErrUnavailable", err)
		}
	}
}

func TestOpen_ABadConnectionStringIsAnError(t *testing.T) {
	if _, err := Open(context.Background(), "http://nope", quiet()); err == nil {
		t.Fatal("Open accepted a non-esdb URL")
	}
}

func TestAppend_InvalidInputIsRejectedBeforeAnyCall(t *testing.T) {
	s, err := Open(context.Background(), noServer, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		expected int64
		events   []domain.EventData
	}{
		"NoEvents":               {domain.AnyVersion, nil},
		"AnIDThatIsNotAUUID":     {domain.AnyVersion, []domain.EventData{{ID: "m-1", Type: "T", Data: []byte("{}")}}},
		"AnUnknownVersionMarker": {-7, []domain.EventData{{ID: uuid.NewString(), Type: "T", Data: []byte("{}")}}},
	} {
		if _, err := s.Append(ctx, "s", tc.expected, tc.events); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%s: %v, want domain.ErrInvalid", name, err)
		}
	}
}

func TestWait_WithoutAServerFallsBackToPollingAndCloseStopsIt(t *testing.T) {
	s, err := Open(context.Background(), noServer, quiet(), WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Wait(context.Background())
	s.Wait(context.Background())
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("two waits took %v with a 50ms poll interval", d)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the subscription loop")
	}
	if _, err := s.Head(context.Background()); err == nil {
		t.Fatal("Head after Close succeeded")
	}
}

func TestWait_ReturnsWhenItsContextEnds(t *testing.T) {
	s, err := Open(context.Background(), noServer, quiet(), WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	s.Wait(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Wait took %v after its context ended", d)
	}
}
