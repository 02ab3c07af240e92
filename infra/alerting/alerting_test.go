package alerting

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/forwarder"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// memLog is an event store in memory: one global log, ids stored once.
type memLog struct {
	mu  sync.Mutex
	log []domain.RecordedEvent
	ids map[string]bool
}

func (m *memLog) Append(_ context.Context, stream string, _ int64, events []domain.EventData) (domain.AppendResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range events {
		if !m.ids[e.ID] {
			m.ids[e.ID] = true
			n := uint64(len(m.log) + 1)
			m.log = append(m.log, domain.RecordedEvent{ID: e.ID, StreamID: stream, Type: e.Type, Data: e.Data,
				Position: domain.Position{Commit: n, Prepare: n}, RecordedAt: t0})
		}
	}
	return domain.AppendResult{}, nil
}

func (m *memLog) ReadAfter(_ context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.RecordedEvent
	for _, e := range m.log {
		if after.Less(e.Position) && len(out) < max {
			out = append(out, e)
		}
	}
	return out, nil
}

// record appends e as a device would.
func (m *memLog) record(t *testing.T, stream string, e domain.Event) {
	t.Helper()
	data, err := domain.NewEventData(uuid.NewString(), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(context.Background(), stream, domain.AnyVersion, []domain.EventData{data}); err != nil {
		t.Fatal(err)
	}
}

// alerts returns the types of the alert events stored, in order.
func (m *memLog) alerts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.log {
		switch r.Type {
		case domain.TypeAlertRaised, domain.TypeAlertCleared, domain.TypeDeviceWentSilent, domain.TypeDeviceResumed:
			out = append(out, r.Type)
		}
	}
	return out
}

// fakeClock is the time a test sets; its ticker ticks when the test says.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	ticks chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) Ticker(time.Duration) (<-chan time.Time, func()) { return c.ticks, func() {} }

func sameTypes(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("alerts = %v, want %v", got, want)
	}
}

// The whole path: the log is forwarded on the bus, the evaluator consumes
// it, and silence is checked on the injected clock's ticker.
func TestEvaluator_ConsumesForwardedEventsAndWatchesTheClock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := &memLog{ids: map[string]bool{}}
	clock := &fakeClock{now: t0, ticks: make(chan time.Time)}
	store.record(t, domain.AlertStream("s1"), domain.AlertRuleSet{AlertRule: domain.AlertRule{
		DeviceID: "s1", Name: "pm25-high", Type: "pm25", Above: 35, For: 10 * time.Minute}})
	ev := commands.NewAlertEvaluator(store, clock.Now, logger, commands.AlertEvaluatorConfig{OfflineAfter: 10 * time.Minute}) // state only from the bus
	pubsub := forwarder.NewGoChannel(watermill.NopLogger{})
	defer pubsub.Close()
	msgs, err := pubsub.Subscribe(ctx, forwarder.Topic)
	if err != nil {
		t.Fatal(err)
	}
	cps := &memCheckpoints{}
	fwd := forwarder.New(store, waitABit{}, cps, pubsub, logger, forwarder.Config{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = Consume(ctx, msgs, ev.Handle, logger) }()
	go func() { defer wg.Done(); _ = Watch(ctx, clock, time.Minute, ev.Tick, logger) }()
	go func() { defer wg.Done(); _ = fwd.Run(ctx) }()

	for i := 0; i <= 10; i++ {
		store.record(t, domain.TelemetryStream("s1"), domain.MeasurementRecorded{StationID: "s1", MeasurementID: uuid.NewString(),
			Type: "pm25", Value: 99, MeasuredAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	waitFor(t, func() bool { return len(store.alerts()) == 1 })
	clock.set(t0.Add(25 * time.Minute))
	clock.ticks <- clock.Now()
	waitFor(t, func() bool { return len(store.alerts()) == 2 })
	sameTypes(t, store.alerts(), domain.TypeAlertRaised, domain.TypeDeviceWentSilent)
	cancel()
	wg.Wait()
}

type waitABit struct{}

func (waitABit) Wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Millisecond):
	}
}

type memCheckpoints struct {
	mu  sync.Mutex
	pos domain.Position
}

func (c *memCheckpoints) Checkpoint(context.Context, string) (domain.Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos, nil
}

func (c *memCheckpoints) Move(_ context.Context, _ string, _, to domain.Position, _ int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = to
	return nil
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
