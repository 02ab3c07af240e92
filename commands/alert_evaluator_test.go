package commands_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

var evaluatorT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// alertLog is an event store in memory: one global log, ids stored once;
// failNext makes the next appends fail.
type alertLog struct {
	mu       sync.Mutex
	log      []domain.RecordedEvent
	ids      map[string]bool
	failNext int
}

func (m *alertLog) Append(_ context.Context, stream string, _ int64, events []domain.EventData) (domain.AppendResult, error) {
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
			Position: domain.Position{Commit: n, Prepare: n}, RecordedAt: evaluatorT0})
	}
	return res, nil
}

func (m *alertLog) ReadAfter(_ context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
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
func (m *alertLog) record(t *testing.T, stream string, e domain.Event) domain.RecordedEvent {
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
func (m *alertLog) alerts() []string {
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

type evaluatorFixture struct {
	t     *testing.T
	ctx   context.Context
	store *alertLog
	now   time.Time
	cfg   commands.AlertEvaluatorConfig
	ev    *commands.AlertEvaluator
}

func newEvaluatorFixture(t *testing.T) *evaluatorFixture {
	f := &evaluatorFixture{t: t, ctx: context.Background(), store: &alertLog{ids: map[string]bool{}}, now: evaluatorT0,
		cfg: commands.AlertEvaluatorConfig{OfflineAfter: 10 * time.Minute}}
	f.ev = f.newEvaluator()
	f.handle(f.store.record(t, domain.AlertStream("s1"), domain.AlertRuleSet{AlertRule: domain.AlertRule{
		DeviceID: "s1", Name: "pm25-high", Type: "pm25", Above: 35, For: 10 * time.Minute}}))
	return f
}

// newEvaluator is an evaluator with empty state on the fixture's store and
// clock, as after a restart.
func (f *evaluatorFixture) newEvaluator() *commands.AlertEvaluator {
	return commands.NewAlertEvaluator(f.store, func() time.Time { return f.now }, slog.New(slog.NewTextHandler(io.Discard, nil)), f.cfg)
}

func (f *evaluatorFixture) handle(r domain.RecordedEvent) {
	f.t.Helper()
	if err := f.ev.Handle(f.ctx, r); err != nil {
		f.t.Fatal(err)
	}
}

// measure records pm25 values one minute apart from start, handling each.
func (f *evaluatorFixture) measure(start time.Time, values ...float64) []domain.RecordedEvent {
	var recs []domain.RecordedEvent
	for i, v := range values {
		at := start.Add(time.Duration(i) * time.Minute)
		f.now = at
		r := f.store.record(f.t, domain.TelemetryStream("s1"), domain.MeasurementRecorded{StationID: "s1", MeasurementID: uuid.NewString(), Type: "pm25", Value: v, MeasuredAt: at})
		f.handle(r)
		recs = append(recs, r)
	}
	return recs
}

func sameAlertTypes(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("alerts = %v, want %v", got, want)
	}
}

func TestAlertEvaluator_ThresholdHeldTenMinutesRaisesOnceAndDroppingBelowClears(t *testing.T) {
	f := newEvaluatorFixture(t)
	f.measure(evaluatorT0, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40)
	sameAlertTypes(t, f.store.alerts(), domain.TypeAlertRaised)
	f.measure(evaluatorT0.Add(13*time.Minute), 20)
	sameAlertTypes(t, f.store.alerts(), domain.TypeAlertRaised, domain.TypeAlertCleared)
}

func TestAlertEvaluator_FlappingUnderTenMinutesRaisesNothing(t *testing.T) {
	f := newEvaluatorFixture(t)
	for i := 0; i < 5; i++ {
		f.measure(evaluatorT0.Add(time.Duration(i)*10*time.Minute), 50, 50, 50, 50, 50, 50, 50, 50, 50, 10)
	}
	sameAlertTypes(t, f.store.alerts())
}

func TestAlertEvaluator_RedeliveredInputsDoNotDuplicateAlerts(t *testing.T) {
	f := newEvaluatorFixture(t)
	recs := f.measure(evaluatorT0, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40)
	for _, r := range recs {
		f.handle(r)
	}
	sameAlertTypes(t, f.store.alerts(), domain.TypeAlertRaised)

	// A restarted evaluator rebuilds from the log and decides the same
	// transition again: it is stored once.
	again := f.newEvaluator()
	if _, err := again.Rebuild(f.ctx, f.store, domain.Position{Commit: 1 << 62}); err != nil {
		t.Fatal(err)
	}
	sameAlertTypes(t, f.store.alerts(), domain.TypeAlertRaised)
	f.ev = again
	f.measure(evaluatorT0.Add(11*time.Minute), 5)
	sameAlertTypes(t, f.store.alerts(), domain.TypeAlertRaised, domain.TypeAlertCleared)
}

func TestAlertEvaluator_AFailedAppendIsDecidedAgainOnRedelivery(t *testing.T) {
	f := newEvaluatorFixture(t)
	f.measure(evaluatorT0, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40)
	f.now = evaluatorT0.Add(10 * time.Minute)
	last := f.store.record(t, domain.TelemetryStream("s1"), domain.MeasurementRecorded{StationID: "s1", MeasurementID: "m", Type: "pm25", Value: 40, MeasuredAt: evaluatorT0.Add(10 * time.Minute)})
	f.store.failNext = 1
	if err := f.ev.Handle(f.ctx, last); err == nil {
		t.Fatal("the failed append was not reported")
	}
	sameAlertTypes(t, f.store.alerts())
	f.handle(last)
	sameAlertTypes(t, f.store.alerts(), domain.TypeAlertRaised)
}

func TestAlertEvaluator_SilenceBeyondThePeriodIsReportedOnceAndDataResumes(t *testing.T) {
	f := newEvaluatorFixture(t)
	f.measure(evaluatorT0, 10)
	tick := func(at time.Time) {
		f.now = at
		if err := f.ev.Tick(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	tick(evaluatorT0.Add(9 * time.Minute))
	sameAlertTypes(t, f.store.alerts())
	tick(evaluatorT0.Add(10 * time.Minute))
	tick(evaluatorT0.Add(11 * time.Minute))
	tick(evaluatorT0.Add(30 * time.Minute))
	sameAlertTypes(t, f.store.alerts(), domain.TypeDeviceWentSilent)

	// A restart learns the silence from the log and does not report it again.
	again := f.newEvaluator()
	if _, err := again.Rebuild(f.ctx, f.store, domain.Position{Commit: 1 << 62}); err != nil {
		t.Fatal(err)
	}
	f.ev = again
	tick(evaluatorT0.Add(40 * time.Minute))
	sameAlertTypes(t, f.store.alerts(), domain.TypeDeviceWentSilent)

	f.measure(evaluatorT0.Add(41*time.Minute), 12)
	sameAlertTypes(t, f.store.alerts(), domain.TypeDeviceWentSilent, domain.TypeDeviceResumed)
}

func TestAlertEvaluator_ADecommissionedDeviceIsNeverReportedSilent(t *testing.T) {
	f := newEvaluatorFixture(t)
	f.measure(evaluatorT0, 10)
	f.handle(f.store.record(t, domain.DeviceStream("s1"), domain.DeviceDecommissioned{DeviceID: "s1", Kind: domain.KindStation, DecommissionedAt: evaluatorT0}))
	f.now = evaluatorT0.Add(time.Hour)
	if err := f.ev.Tick(f.ctx); err != nil {
		t.Fatal(err)
	}
	sameAlertTypes(t, f.store.alerts())
}

// Alert events already stored carry these ids: the same transition must
// keep getting the same id, or a restart would store alerts twice.
func TestAlertEventID_IsTheIDStoredAlertsAlreadyCarry(t *testing.T) {
	at := evaluatorT0
	for _, c := range []struct {
		event domain.Event
		id    string
	}{
		{domain.AlertRaised{DeviceID: "s1", Rule: "pm25-high", Type: "pm25", Threshold: 35, Value: 40, Since: at, At: at.Add(10 * time.Minute)},
			"edf495a6-d12a-5f1f-8a52-c111575e3542"},
		{domain.AlertCleared{DeviceID: "s1", Rule: "pm25-high", Type: "pm25", Threshold: 35, Value: 20, RaisedAt: at, At: at.Add(13 * time.Minute)},
			"5fbc909b-738e-57ca-a631-28e8e3f8f1d7"},
		{domain.DeviceWentSilent{DeviceID: "s1", LastMeasuredAt: at, At: at.Add(10 * time.Minute)},
			"0da2fdc2-85ce-5c0e-862e-611143d1bad1"},
		{domain.DeviceResumed{DeviceID: "s1", SilentSince: at, MeasuredAt: at.Add(41 * time.Minute), At: at.Add(41 * time.Minute)},
			"92c8f166-d6de-585c-8185-70ebdcdfd875"},
	} {
		if got := commands.AlertEventID(c.event); got != c.id {
			t.Errorf("%T %s: id %s, want %s", c.event, domain.AlertEventKey(c.event), got, c.id)
		}
	}
}
