package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
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

// vehicleReadingNames are a realistic vehicle's 16 readings (those of
// infra/devicesim, which domain does not import), with their decimals.
var vehicleReadingNames = []struct {
	name     string
	start    float64
	decimals int
}{
	{"speed_kmh", 50, 1}, {"engine_rpm", 2000, 0}, {"engine_load_pct", 40, 1}, {"throttle_pct", 25, 1},
	{"coolant_temp_c", 88, 1}, {"oil_temp_c", 95, 1}, {"intake_air_temp_c", 25, 1}, {"ambient_temp_c", 12, 1},
	{"fuel_level_pct", 70, 1}, {"battery_v", 13.9, 2}, {"odometer_km", 48213.4, 1}, {"tire_fl_kpa", 230, 0},
	{"tire_fr_kpa", 231, 0}, {"tire_rl_kpa", 228, 0}, {"tire_rr_kpa", 229, 0}, {"fuel_rate_lph", 6, 2},
}

// realisticBatch is a vehicle's batch of n samples a second apart, each
// with 16 readings and a location, as the simulated fleet sends them.
func realisticBatch(vid string, n int) VehicleEventsRecorded {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	e := VehicleEventsRecorded{VID: vid}
	at := time.Date(2026, 11, 29, 7, 15, 0, 0, time.UTC)
	lat, lon := 50.0+rng.Float64()/10, 19.9+rng.Float64()/10
	for i := range n {
		r := make(map[string]float64, len(vehicleReadingNames))
		for _, v := range vehicleReadingNames {
			scale := math.Pow(10, float64(v.decimals))
			r[v.name] = math.Round((v.start+rng.NormFloat64())*scale) / scale
		}
		lat, lon = lat+rng.Float64()/1e4, lon+rng.Float64()/1e4
		e.Events = append(e.Events, VehicleEvent{EID: fmt.Sprintf("%s-%d", vid, i), Type: "telemetry",
			OccurredAt: at.Add(time.Duration(i) * time.Second), Readings: r,
			Location: &Location{Lat: math.Round(lat*1e6) / 1e6, Lon: math.Round(lon*1e6) / 1e6}})
	}
	return e
}

// jsonbText is v as the log gives it back: encoding/json's text turned
// into what PostgreSQL's jsonb::text prints (object keys ordered by length,
// then bytes; a space after every ':' and ',').
func jsonbText(tb testing.TB, v any) []byte {
	tb.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var tree any
	if err := d.Decode(&tree); err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	writeJSONB(tb, &out, tree)
	return out.Bytes()
}

func writeJSONB(tb testing.TB, out *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if len(a) != len(b) {
				return len(a) - len(b)
			}
			return strings.Compare(a, b)
		})
		out.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				out.WriteString(", ")
			}
			writeJSONB(tb, out, k)
			out.WriteString(": ")
			writeJSONB(tb, out, v[k])
		}
		out.WriteByte('}')
	case []any:
		out.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				out.WriteString(", ")
			}
			writeJSONB(tb, out, e)
		}
		out.WriteByte(']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		out.Write(b)
	}
}

// BenchmarkDecodeVehicleEventsRecorded decodes a batch of 60 samples of 16
// readings and a location as the log gives it back (jsonb's key order and
// spacing), with encoding/json alone and with DecodeEvent.
func BenchmarkDecodeVehicleEventsRecorded(b *testing.B) {
	const samples = 60
	data := jsonbText(b, realisticBatch("store-v0000", samples))
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var v VehicleEventsRecorded
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/samples, "ns/sample")
	})
	b.Run("DecodeEvent", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := DecodeEvent(TypeVehicleEventsRecorded, data); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/samples, "ns/sample")
	})
}
