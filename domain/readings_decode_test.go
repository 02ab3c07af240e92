package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestStoredVehicleEvent_HasVehicleEventsFields keeps the log's decoding
// type in step with VehicleEvent: the same fields, in order, with the same
// tags.
func TestStoredVehicleEvent_HasVehicleEventsFields(t *testing.T) {
	a, b := reflect.TypeOf(VehicleEvent{}), reflect.TypeOf(storedVehicleEvent{})
	if a.NumField() != b.NumField() {
		t.Fatalf("VehicleEvent has %d fields, storedVehicleEvent %d", a.NumField(), b.NumField())
	}
	for i := range a.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Tag != fb.Tag {
			t.Errorf("field %d: %s %q vs %s %q", i, fa.Name, fa.Tag, fb.Name, fb.Tag)
		}
	}
}

// decodeBoth decodes data as a VehicleEventsRecorded with encoding/json
// alone and with DecodeEvent.
func decodeBoth(data []byte) (plain VehicleEventsRecorded, plainErr error, fast Event, fastErr error) {
	plainErr = json.Unmarshal(data, &plain)
	fast, fastErr = DecodeEvent(TypeVehicleEventsRecorded, data)
	return
}

func TestDecodeVehicleEventsRecorded_EqualsEncodingJSON(t *testing.T) {
	for _, doc := range readingsCorpus {
		plain, plainErr, fast, fastErr := decodeBoth([]byte(doc))
		if (plainErr == nil) != (fastErr == nil) {
			t.Errorf("%s: encoding/json %v, DecodeEvent %v", doc, plainErr, fastErr)
			continue
		}
		if plainErr == nil && !reflect.DeepEqual(Event(plain), fast) {
			t.Errorf("%s:\n encoding/json %+v\n DecodeEvent   %+v", doc, plain, fast)
		}
	}
}

var readingsCorpus = []string{
	`{"vid":"v1","events":[{"eid":"e1","type":"telemetry","occurred_at":"2026-06-01T10:00:00Z","readings":{"speed_kmh":42.5,"rpm":1800,"fuel_pct":-0.0},"location":{"lat":50.06,"lon":19.94}}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":{}}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":null}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":{ "a" : 1e3 , "b":-2.5E-3,"a":7 }}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":{"\u0061b":1}}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":{"é":1}}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":{"a":"1"}}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":{"a":null}}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":{"a":1e400}}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":[1,2]}]}`,
	`{"vid":"v1","events":[{"type":"t","occurred_at":"2026-06-01T10:00:00Z","readings":{"a":1},"data":{"x":[1,{"y":2}]}}]}`,
	`{"vid":"v1","events":[]}`,
	`{"vid":"v1"}`,
}

// FuzzDecodeVehicleEventsRecorded: DecodeEvent's readings decoder and
// encoding/json agree on every document, valid or not.
func FuzzDecodeVehicleEventsRecorded(f *testing.F) {
	for _, doc := range readingsCorpus {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, plainErr, fast, fastErr := decodeBoth(data)
		if (plainErr == nil) != (fastErr == nil) {
			t.Fatalf("encoding/json %v, DecodeEvent %v", plainErr, fastErr)
		}
		if plainErr != nil {
			return
		}
		got := fast.(VehicleEventsRecorded)
		// NaN cannot come from JSON, so DeepEqual is exact here.
		for _, e := range got.Events {
			for _, v := range e.Readings {
				if math.IsNaN(v) {
					t.Fatal("NaN decoded")
				}
			}
		}
		if !reflect.DeepEqual(plain, got) {
			t.Fatalf("encoding/json %+v\nDecodeEvent   %+v", plain, got)
		}
	})
}

// BenchmarkDecodeVehicleEventsRecorded decodes a batch of 60 samples of 16
// readings and a location, as vehicles send them, with encoding/json alone
// and with DecodeEvent.
func BenchmarkDecodeVehicleEventsRecorded(b *testing.B) {
	names := []string{"speed_kmh", "rpm", "fuel_pct", "coolant_c", "oil_c", "battery_v", "throttle_pct", "brake_pct",
		"engine_load_pct", "intake_c", "ambient_c", "odometer_km", "tire_fl_kpa", "tire_fr_kpa", "tire_rl_kpa", "tire_rr_kpa"}
	e := VehicleEventsRecorded{VID: "veh-0001"}
	at := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	for i := range 60 {
		r := make(map[string]float64, len(names))
		for j, n := range names {
			r[n] = math.Round(float64(i*37+j*101)*1.37) / 100
		}
		e.Events = append(e.Events, VehicleEvent{EID: fmt.Sprintf("veh-0001-%d", i), Type: "telemetry", OccurredAt: at.Add(time.Duration(i) * time.Second),
			Readings: r, Location: &Location{Lat: 50.061234 + float64(i)/1e5, Lon: 19.937654}})
	}
	data, err := json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v VehicleEventsRecorded
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/60, "ns/sample")
	})
	b.Run("DecodeEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEvent(TypeVehicleEventsRecorded, data); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/60, "ns/sample")
	})
}
