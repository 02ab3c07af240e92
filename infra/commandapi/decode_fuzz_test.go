package commandapi

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/wire"
)

var fuzzNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// FuzzDecodeMeasurements drives the measurement body decoder and the batch
// validation with arbitrary bytes: no input may panic, and whatever passes
// validation must be storable.
func FuzzDecodeMeasurements(f *testing.F) {
	fuzzBody(f, []string{
		`{"measurements": [{"id": "a", "type": "pm25", "value": 12.5, "measured_at": "2026-06-01T11:00:00Z"}]}`,
		`{"measurements": [{"type": "pm25", "value": -1e308, "measured_at": "1970-01-01T00:00:00Z"}]}`,
		`{"measurements": []}`,
		`{"measurements": [{"type": "PM", "value": NaN}]}`,
		`{"measurements": [{"type": "pm25", "value": 1, "measured_at": "9999-12-31T23:59:59Z"}]}`,
		`{"measurements": [{"type": "pm25", "value": 1, "measured_at": "1969-12-31T23:59:59Z"}]}`,
		`{"measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T12:15:01Z"}]}`,
		`{"measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T12:15:00Z"}]}`,
		`{"measurements": null}`,
		`[[[[[[[[[[[[]]]]]]]]]]]]`,
		"{\"measurements\": [{\"id\": \"\xff\xfe\", \"type\": \"pm25\"}]}",
		`{"measurements": [{"id": "../../etc/passwd", "type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`,
	}, func(t *testing.T, body measurementsBody) {
		if err := domain.DefaultTelemetryPolicy.ValidateMeasurements(body.Measurements, fuzzNow); err != nil {
			return
		}
		for _, m := range body.Measurements {
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) || m.MeasuredAt.Year() < 1970 || m.MeasuredAt.After(fuzzNow.Add(domain.DefaultTelemetryPolicy.MaxFutureSkew)) {
				t.Fatalf("validation let %+v through", m)
			}
			if strings.ContainsAny(m.ID, "/' ;") {
				t.Fatalf("validation let id %q through", m.ID)
			}
		}
	})
}

// FuzzDecodeVehicleEvents does the same for vehicle event batches.
func FuzzDecodeVehicleEvents(f *testing.F) {
	fuzzBody(f, []string{
		`{"events": [{"eid": "e1", "type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 50}, "location": {"lat": 52, "lon": 21}, "data": {"a": [1, {"b": null}]}}]}`,
		`{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "data": "str"}]}`,
		`{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"": 1}}]}`,
		`{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "location": {"lat": 1e999}}]}`,
		`{"events": [{"type": "t", "occurred_at": "1969-12-31T23:59:59Z"}]}`,
		`{"events": [{"type": "t", "occurred_at": "2026-06-01T12:15:01Z"}]}`,
		`{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "location": {"lat": 91, "lon": 0}}]}`,
	}, func(t *testing.T, body vehicleEventsBody) {
		if err := domain.DefaultTelemetryPolicy.ValidateVehicleEvents(body.Events, fuzzNow); err != nil {
			return
		}
		for _, e := range body.Events {
			if e.OccurredAt.Year() < 1970 || e.OccurredAt.After(fuzzNow.Add(domain.DefaultTelemetryPolicy.MaxFutureSkew)) {
				t.Fatalf("validation let occurred_at %s through", e.OccurredAt)
			}
			if l := e.Location; l != nil && (math.Abs(l.Lat) > 90 || math.Abs(l.Lon) > 180) {
				t.Fatalf("validation let location %+v through", *l)
			}
			for name, v := range e.Readings {
				if math.IsNaN(v) || math.IsInf(v, 0) || name == "" {
					t.Fatalf("validation let reading %q=%v through", name, v)
				}
			}
			if rec := e.Recorded("v"); len(rec.Data) > 0 && rec.Data[0] != '{' && strings.TrimSpace(string(rec.Data))[0] != '{' {
				t.Fatalf("validation let non-object data %q through", rec.Data)
			}
		}
	})
}

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// fuzzBody fuzzes the decoding of a request body of type B from the seeds
// on: no input may panic, a refusal is a *wire.BodyError that names the
// value at fault, worded for people (no Go type, no Go time layout), and
// check judges every body that decodes.
func fuzzBody[B any](f *testing.F, seeds []string, check func(t *testing.T, body B)) {
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var body B
		if err := wire.Decode(strings.NewReader(string(data)), &body); err != nil {
			var be *wire.BodyError
			if !errors.As(err, &be) {
				t.Fatalf("%q: refused with %T %v, not a *wire.BodyError", data, err, err)
			}
			if strings.HasPrefix(be.Message, "the body does not have the form") {
				t.Fatalf("%q: the refusal names no value: %q", data, be.Message)
			}
			// What the sender wrote (quoted, or after ", not") may hold anything.
			own, _, _ := strings.Cut(quoted.ReplaceAllString(be.Message, `"…"`), ", not ")
			for _, w := range []string{"Go ", "go struct", "float64", "time.Time", "2006", "15:04", "json:", "unmarshal"} {
				if strings.Contains(own, w) {
					t.Fatalf("%q: %q names Go's %q", data, be.Message, w)
				}
			}
			return
		}
		check(t, body)
	})
}
