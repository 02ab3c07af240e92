package alerting

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/forwarder"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// memStore is an event store in memory: one global log, ids stored once.
type memStore struct {
	mu       sync.Mutex
	log      []domain.RecordedEvent
	ids      map[string]bool
	failNext int
}

func newMemStore() *memStore { return &memStore{ids: map[string]bool{}} }

func (m *memStore) Append(_ context.Context, stream string, _ int64, events []domain.EventData) (domain.AppendResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failNext > 0 {
		m.failNext--
		return domain.AppendResult{}, errors.New("store away")
	}
	var res domain.AppendResult
	for _, e := range events {
		if m.ids[e.ID] {
			res.Duplicates = append(res.Duplicates, e.ID)
			continue
		}
		m.ids[e.ID] = true
		n := uint64(len(m.log) + 1)
		m.log = append(m.log, domain.RecordedEvent{ID: e.ID, StreamID: stream, Type: e.Type, Data: e.Data,
			Position: domain.Position{Commit: n, Prepare: n}, RecordedAt: t0})
	}
	return res, nil
}

func (m *memStore) ReadAfter(_ context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
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

// record appends e as a device would and returns it as recorded.
func (m *memStore) record(t *testing.T, stream string, e domain.Event) domain.RecordedEvent {
	t.Helper()
	data, err := domain.NewEventData(uuid.NewString(), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(context.Background(), stream, domain.AnyVersion, []domain.EventData{data}); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log[len(m.log)-1]
}

// alerts returns the types of the alert events stored, in order.
func (m *memStore) alerts() []string {
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

type fixture struct {
	t     *testing.T
	ctx   context.Context
	store *memStore
	clock *fakeClock
	ev    *Evaluator
}

func newFixture(t *testing.T) *fixture {
	store := newMemStore()
	clock := &fakeClock{now: t0, ticks: make(chan time.Time)}
	ev := New(store, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{OfflineAfter: 10 * time.Minute})
	f := &fixture{t: t, ctx: context.Background(), store: store, clock: clock, ev: ev}
	f.handle(store.record(t, domain.AlertStream("s1"), domain.AlertRuleSet{AlertRule: domain.AlertRule{
		DeviceID: "s1", Name: "pm25-high", Type: "pm25", Above: 35, For: 10 * time.Minute}}))
	return f
}

func (f *fixture) handle(r domain.RecordedEvent) {
	f.t.Helper()
	if err := f.ev.Handle(f.ctx, r); err != nil {
		f.t.Fatal(err)
	}
}

// measure records pm25 values one minute apart from start, handling each.
func (f *fixture) measure(start time.Time, values ...float64) []domain.RecordedEvent {
	var recs []domain.RecordedEvent
	for i, v := range values {
		at := start.Add(time.Duration(i) * time.Minute)
		f.clock.set(at)
		r := f.store.record(f.t, domain.TelemetryStream("s1"), domain.MeasurementRecorded{StationID: "s1", MeasurementID: uuid.NewString(), Type: "pm25", Value: v, MeasuredAt: at})
		f.handle(r)
		recs = append(recs, r)
	}
	return recs
}

func sameTypes(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("alerts = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("alerts = %v, want %v", got, want)
		}
	}
}

func TestEvaluator_ThresholdHeldTenMinutesRaisesOnceAndDroppingBelowClears(t *testing.T) {
	f := newFixture(t)
	f.measure(t0, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40)
	sameTypes(t, f.store.alerts(), domain.TypeAlertRaised)
	f.measure(t0.Add(13*time.Minute), 20)
	sameTypes(t, f.store.alerts(), domain.TypeAlertRaised, domain.TypeAlertCleared)
}

func TestEvaluator_FlappingUnderTenMinutesRaisesNothing(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		f.measure(t0.Add(time.Duration(i)*10*time.Minute), 50, 50, 50, 50, 50, 50, 50, 50, 50, 10)
	}
	sameTypes(t, f.store.alerts())
}

func TestEvaluator_RedeliveredInputsDoNotDuplicateAlerts(t *testing.T) {
	f := newFixture(t)
	recs := f.measure(t0, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40)
	for _, r := range recs {
		f.handle(r)
	}
	sameTypes(t, f.store.alerts(), domain.TypeAlertRaised)

	// A restarted evaluator rebuilds from the log and decides the same
	// transition again: it is stored once.
	again := New(f.store, f.clock, f.ev.logger, f.ev.cfg)
	if _, err := again.Rebuild(f.ctx, f.store, domain.Position{Commit: 1 << 62}); err != nil {
		t.Fatal(err)
	}
	sameTypes(t, f.store.alerts(), domain.TypeAlertRaised)
	f.ev = again
	f.measure(t0.Add(11*time.Minute), 5)
	sameTypes(t, f.store.alerts(), domain.TypeAlertRaised, domain.TypeAlertCleared)
}

func TestEvaluator_AFailedAppendIsDecidedAgainOnRedelivery(t *testing.T) {
	f := newFixture(t)
	f.measure(t0, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40)
	f.clock.set(t0.Add(10 * time.Minute))
	last := f.store.record(t, domain.TelemetryStream("s1"), domain.MeasurementRecorded{StationID: "s1", MeasurementID: "m", Type: "pm25", Value: 40, MeasuredAt: t0.Add(10 * time.Minute)})
	f.store.failNext = 1
	if err := f.ev.Handle(f.ctx, last); err == nil {
		t.Fatal("the failed append was not reported")
	}
	sameTypes(t, f.store.alerts())
	f.handle(last)
	sameTypes(t, f.store.alerts(), domain.TypeAlertRaised)
}

func TestEvaluator_SilenceBeyondThePeriodIsReportedOnceAndDataResumes(t *testing.T) {
	f := newFixture(t)
	f.measure(t0, 10)
	tick := func(at time.Time) {
		f.clock.set(at)
		if err := f.ev.Tick(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	tick(t0.Add(9 * time.Minute))
	sameTypes(t, f.store.alerts())
	tick(t0.Add(10 * time.Minute))
	tick(t0.Add(11 * time.Minute))
	tick(t0.Add(30 * time.Minute))
	sameTypes(t, f.store.alerts(), domain.TypeDeviceWentSilent)

	// A restart learns the silence from the log and does not report it again.
	again := New(f.store, f.clock, f.ev.logger, f.ev.cfg)
	if _, err := again.Rebuild(f.ctx, f.store, domain.Position{Commit: 1 << 62}); err != nil {
		t.Fatal(err)
	}
	f.ev = again
	tick(t0.Add(40 * time.Minute))
	sameTypes(t, f.store.alerts(), domain.TypeDeviceWentSilent)

	f.measure(t0.Add(41*time.Minute), 12)
	sameTypes(t, f.store.alerts(), domain.TypeDeviceWentSilent, domain.TypeDeviceResumed)
}

// The whole path: the log is forwarded on the bus, the evaluator consumes
// it, and silence is checked on the injected clock's ticker.
func TestEvaluator_ConsumesForwardedEventsAndWatchesTheClock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFixture(t)
	f.ev = New(f.store, f.clock, f.ev.logger, f.ev.cfg) // state only from the bus
	pubsub := forwarder.NewGoChannel(watermill.NopLogger{})
	defer pubsub.Close()
	msgs, err := pubsub.Subscribe(ctx, forwarder.Topic)
	if err != nil {
		t.Fatal(err)
	}
	cps := &memCheckpoints{}
	fwd := forwarder.New(f.store, waitABit{}, cps, pubsub, f.ev.logger, forwarder.Config{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = f.ev.Consume(ctx, msgs) }()
	go func() { defer wg.Done(); _ = f.ev.Watch(ctx) }()
	go func() { defer wg.Done(); _ = fwd.Run(ctx) }()

	for i := 0; i <= 10; i++ {
		f.store.record(t, domain.TelemetryStream("s1"), domain.MeasurementRecorded{StationID: "s1", MeasurementID: uuid.NewString(),
			Type: "pm25", Value: 99, MeasuredAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	waitFor(t, func() bool { return len(f.store.alerts()) == 1 })
	f.clock.set(t0.Add(25 * time.Minute))
	f.clock.ticks <- f.clock.Now()
	waitFor(t, func() bool { return len(f.store.alerts()) == 2 })
	sameTypes(t, f.store.alerts(), domain.TypeAlertRaised, domain.TypeDeviceWentSilent)
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

func TestEvaluator_ADecommissionedDeviceIsNeverReportedSilent(t *testing.T) {
	f := newFixture(t)
	f.measure(t0, 10)
	f.handle(f.store.record(t, domain.DeviceStream("s1"), domain.DeviceDecommissioned{DeviceID: "s1", Kind: domain.KindStation, DecommissionedAt: t0}))
	f.clock.set(t0.Add(time.Hour))
	if err := f.ev.Tick(f.ctx); err != nil {
		t.Fatal(err)
	}
	sameTypes(t, f.store.alerts())
}
