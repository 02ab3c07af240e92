package esdb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/esdb"
)

// These tests use the in-memory fake server to stop and start "the
// server" under a running store.

func oneEvent(t *testing.T) []domain.EventData {
	t.Helper()
	e, err := domain.NewEventData(uuid.NewString(), domain.MeasurementRecorded{MeasurementID: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return []domain.EventData{e}
}

func TestStore_AServerThatComesUpAfterOpenIsUsedWithoutARestart(t *testing.T) {
	fake := newFakeServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s := openURL(t, fake.url()) // the server is not up: Open still succeeds
	if _, err := s.Append(ctx, "telemetry-late", domain.AnyVersion, oneEvent(t)); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("before the server is up: %v, want domain.ErrUnavailable", err)
	}
	fake.start(t)
	if _, err := s.Append(ctx, "telemetry-late", domain.AnyVersion, oneEvent(t)); err != nil {
		t.Fatalf("after the server came up: %v", err)
	}
}

func TestStore_RecoversAfterTheServerRestarts(t *testing.T) {
	fake := newFakeServer(t)
	fake.start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s := openURL(t, fake.url())
	if _, err := s.Append(ctx, "telemetry-restart", domain.AnyVersion, oneEvent(t)); err != nil {
		t.Fatal(err)
	}
	fake.stop()
	if _, err := s.Append(ctx, "telemetry-restart", domain.AnyVersion, oneEvent(t)); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("while the server is down: %v, want domain.ErrUnavailable", err)
	}
	fake.start(t)
	if _, err := s.Append(ctx, "telemetry-restart", domain.AnyVersion, oneEvent(t)); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if evs, err := s.ReadStream(ctx, "telemetry-restart"); err != nil || len(evs) != 2 {
		t.Fatalf("stream after the restart: %d events, %v; want 2", len(evs), err)
	}
}

func TestPing_FailsWhileTheServerIsAwayAndPassesWhenItIsBack(t *testing.T) {
	fake := newFakeServer(t)
	fake.start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s := openURL(t, fake.url())
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("server up: %v", err)
	}
	fake.stop()
	if err := s.Ping(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("server away: %v, want domain.ErrUnavailable", err)
	}
	fake.start(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("server back: %v", err)
	}
}

// drainWakeups consumes pending wake-ups until a Wait runs into its bound.
func drainWakeups(t *testing.T, s *esdb.Store) {
	t.Helper()
	for range 20 {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		start := time.Now()
		s.Wait(ctx)
		cancel()
		if time.Since(start) >= 250*time.Millisecond {
			return
		}
	}
	t.Fatal("Wait keeps returning at once")
}

func TestWait_ReturnsSoonAfterAnAppendOnAFakeServer(t *testing.T) {
	fake := newFakeServer(t)
	fake.start(t)
	s := openURL(t, fake.url(), esdb.WithPollInterval(time.Minute))
	drainWakeups(t, s) // starts the subscription
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = s.Append(context.Background(), "telemetry-wake", domain.AnyVersion, oneEvent(t))
	}()
	assertWokenSoon(t, s)
}

func TestWait_ResubscribesAfterTheServerRestarts(t *testing.T) {
	fake := newFakeServer(t)
	fake.start(t)
	s := openURL(t, fake.url(), esdb.WithPollInterval(time.Minute))
	drainWakeups(t, s)
	fake.stop()
	fake.start(t)
	time.Sleep(50 * time.Millisecond)
	if _, err := s.Append(t.Context(), "telemetry-resub", domain.AnyVersion, oneEvent(t)); err != nil {
		t.Fatal(err)
	}
	// Only a new subscription can wake the waiter before the poll interval.
	assertWokenSoon(t, s)
}

func assertWokenSoon(t *testing.T, s *esdb.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	s.Wait(ctx)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Wait returned after %v; want a wake-up well before the poll interval", d)
	}
}
