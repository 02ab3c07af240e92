package commands_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/memstore"
)

// now is the handlers' injected clock in every test.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// Every fixture starts with two devices of each kind, so a device can try
// to write to another device of its own kind and of the other kind, and
// with one measurement, m1 of stationA, that operators may correct.
const (
	stationA, stationB = "st-a", "st-b"
	vehicleA, vehicleB = "veh-a", "veh-b"
	measurementM1      = "m1"
	readKeyK1          = "k-fixture"
)

// operator is the caller with the admin token.
var operator = commands.Caller{Admin: true}

// tokenHash stands for the hash the edge makes of a token's secret.
func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// device is a device presenting the token it was registered with.
func device(id string) commands.Caller {
	return commands.Caller{DeviceID: id, TokenHash: tokenHash("secret-" + id)}
}

// fixture is an application on a fresh in-memory store.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store *memstore.Store
	app   commands.Application
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, domain.DefaultTelemetryPolicy, now)
}

// newFixtureOn builds the fixture with a telemetry policy and a clock that
// stands still at at.
func newFixtureOn(t *testing.T, policy domain.TelemetryPolicy, at time.Time) *fixture {
	t.Helper()
	clock := func() time.Time { return at }
	store := memstore.New(clock)
	f := &fixture{t: t, ctx: t.Context(), store: store, app: commands.NewApplication(store, clock, policy).WithWebhookTargets(anyTarget{})}
	f.registerStation(stationA)
	f.registerStation(stationB)
	f.registerVehicle(vehicleA)
	f.registerVehicle(vehicleB)
	m1 := domain.Measurement{ID: measurementM1, Type: "pm25", Value: 10, MeasuredAt: at.Add(-time.Hour)}
	f.must(f.recordMeasurements(operator, stationA, m1))
	_, hash := domain.NewReadKey(readKeyK1)
	f.must(f.app.CreateReadKey.Handle(f.ctx, &commands.CreateReadKey{Caller: operator, KeyID: readKeyK1, Name: "fixture", KeyHash: hash}))
	f.must(f.app.RegisterWebhook.Handle(f.ctx, &commands.RegisterWebhook{Caller: operator, ID: webhookA,
		URL: "https://hooks.example.com/a", Secret: "0123456789abcdef"}))
	f.must(f.app.RegisterWebhook.Handle(f.ctx, &commands.RegisterWebhook{Caller: operator, ID: webhookOff,
		URL: "https://hooks.example.com/off", Secret: "0123456789abcdef", Devices: []string{"nobody"}}))
	if ok, err := commands.NewDisableWebhookHandler(f.store, func() time.Time { return at }).Handle(f.ctx,
		commands.DisableWebhook{ID: webhookOff, Failures: 1, Limit: 1, LastError: "HTTP 500"}); err != nil || !ok {
		t.Fatalf("disable %s: %v, %v", webhookOff, ok, err)
	}
	return f
}

// webhookA is the fixture's registered webhook; webhookOff is registered
// and disabled.
const (
	webhookA   = "hook-a"
	webhookOff = "hook-off"
)

// anyTarget lets every webhook target through: the SSRF guard is
// infra/webhook's, tested there.
type anyTarget struct{}

func (anyTarget) CheckTarget(context.Context, string) error { return nil }

func stationProfile(name string) domain.StationProfile {
	return domain.StationProfile{Name: name, Location: domain.Location{Lat: 50.06, Lon: 19.94}, TimeZone: "Europe/Warsaw"}
}

func vehicleProfile(name string) domain.VehicleProfile {
	return domain.VehicleProfile{Name: name, VIN: "1HGCM82633A004352", Plate: "KR 1"}
}

func (f *fixture) registerStation(id string) {
	f.t.Helper()
	f.must(f.app.RegisterStation.Handle(f.ctx, &commands.RegisterStation{Caller: operator, ID: id,
		Profile: stationProfile(id), TokenHash: device(id).TokenHash}))
}

func (f *fixture) registerVehicle(id string) {
	f.t.Helper()
	f.must(f.app.RegisterVehicle.Handle(f.ctx, &commands.RegisterVehicle{Caller: operator, VID: id,
		Profile: vehicleProfile(id), TokenHash: device(id).TokenHash}))
}

// must fails the test unless a command the test needs as a step succeeded.
func (f *fixture) must(out commands.Outcome, err error) commands.Outcome {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("setup command failed: %v", err)
	}
	return out
}

// head is the position of the last stored event: it moves on every append
// that stores something.
func (f *fixture) head() domain.Position {
	f.t.Helper()
	p, err := f.store.Head(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// refused runs a command that must fail with want, and checks it stored
// nothing. It returns the error for further checks.
func (f *fixture) refused(want error, send func() (commands.Outcome, error)) error {
	f.t.Helper()
	before := f.head()
	out, err := send()
	if !errors.Is(err, want) {
		f.t.Fatalf("got %+v, %v; want an error wrapping %q", out, err, want)
	}
	if after := f.head(); after != before {
		f.t.Fatalf("a refused command stored events (log head %s -> %s)", before, after)
	}
	return err
}

// events returns what a stream holds.
func (f *fixture) events(stream string) []domain.RecordedEvent {
	f.t.Helper()
	evs, err := f.store.ReadStream(f.ctx, stream)
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// decoded returns the domain events a stream holds.
func (f *fixture) decoded(stream string) []domain.Event {
	f.t.Helper()
	var out []domain.Event
	for _, r := range f.events(stream) {
		e, err := r.Decode()
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// items returns the telemetry items a stream holds, each as the event of
// one item it would have been in the first log format, so tests compare
// items whatever batch they arrived in.
func (f *fixture) items(stream string) []domain.Event {
	f.t.Helper()
	var out []domain.Event
	for _, e := range f.decoded(stream) {
		switch e := e.(type) {
		case domain.MeasurementsRecorded:
			for _, m := range e.Measurements {
				out = append(out, m.Recorded(e.StationID))
			}
		case domain.VehicleEventsRecorded:
			for _, v := range e.Events {
				out = append(out, v.Recorded(e.VID))
			}
		default:
			out = append(out, e)
		}
	}
	return out
}

// pm25 is a valid measurement taken an hour before now.
func pm25(id string, value float64) domain.Measurement {
	return domain.Measurement{ID: id, Type: "pm25", Value: value, MeasuredAt: now.Add(-time.Hour)}
}

// speed is a valid vehicle event that occurred an hour before now.
func speed(eid string, kmh float64) domain.VehicleEvent {
	return domain.VehicleEvent{EID: eid, Type: "telemetry", OccurredAt: now.Add(-time.Hour), Readings: map[string]float64{"speed_kmh": kmh}}
}

func (f *fixture) recordMeasurements(c commands.Caller, stationID string, ms ...domain.Measurement) (commands.Outcome, error) {
	return f.app.RecordMeasurements.Handle(f.ctx, &commands.RecordMeasurements{Caller: c, StationID: stationID, Measurements: ms})
}

func (f *fixture) recordVehicleEvents(c commands.Caller, vid string, es ...domain.VehicleEvent) (commands.Outcome, error) {
	return f.app.RecordVehicleEvents.Handle(f.ctx, &commands.RecordVehicleEvents{Caller: c, VID: vid, Events: es})
}
