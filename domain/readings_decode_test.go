package domain

import (
	"bytes"
	"encoding/binary"
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

// checkSameAsEncodingJSON fails unless DecodeEvent decodes data as
// encoding/json alone does: both refuse it, or both give the same batch,
// down to the bits of its numbers (DeepEqual takes -0 for 0). It returns
// whether the hand parser took data.
func checkSameAsEncodingJSON(t *testing.T, data []byte) (parsed bool) {
	t.Helper()
	plain, plainErr, fast, fastErr := decodeBoth(data)
	if (plainErr == nil) != (fastErr == nil) {
		t.Fatalf("%s:\nencoding/json %v\nDecodeEvent   %v", data, plainErr, fastErr)
	}
	parsedBatch, parsed := parseVehicleEventsRecorded(data)
	if parsed && plainErr != nil {
		t.Fatalf("%s: parsed by hand, refused by encoding/json: %v", data, plainErr)
	}
	if plainErr != nil {
		return parsed
	}
	got := fast.(VehicleEventsRecorded)
	if !sameBatch(plain, got) {
		t.Fatalf("%s:\nencoding/json %+v\nDecodeEvent   %+v", data, plain, got)
	}
	if parsed && !sameBatch(plain, parsedBatch) {
		t.Fatalf("%s:\nencoding/json %+v\nparsed        %+v", data, plain, parsedBatch)
	}
	return parsed
}

// sameBatch: DeepEqual, and the numbers the same bits. NaN cannot come from
// JSON, so DeepEqual is otherwise exact here.
func sameBatch(a, b VehicleEventsRecorded) bool {
	if !reflect.DeepEqual(a, b) {
		return false
	}
	for i, e := range a.Events {
		for k, v := range e.Readings {
			if math.IsNaN(v) || math.Float64bits(v) != math.Float64bits(b.Events[i].Readings[k]) {
				return false
			}
		}
		if l := e.Location; l != nil && (math.Float64bits(l.Lat) != math.Float64bits(b.Events[i].Location.Lat) ||
			math.Float64bits(l.Lon) != math.Float64bits(b.Events[i].Location.Lon)) {
			return false
		}
	}
	return true
}

func TestDecodeVehicleEventsRecorded_EqualsEncodingJSON(t *testing.T) {
	for _, doc := range readingsCorpus {
		checkSameAsEncodingJSON(t, []byte(doc))
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

// TestParseVehicleEventsRecorded_Cases: edge cases of the hand parser,
// each decoded as encoding/json decodes it, by the hand parser (parsed) or
// by encoding/json after it.
func TestParseVehicleEventsRecorded_Cases(t *testing.T) {
	const at = `"occurred_at": "2026-06-01T10:00:00Z"`
	ev := func(fields string) string { return `{"vid": "v1", "events": [{` + fields + `}]}` }
	cases := []struct {
		name   string
		doc    string
		parsed bool
	}{
		{"minimal event", ev(`"type": "t", ` + at), true},
		{"empty event", ev(``), true},
		{"no optional fields but readings", ev(`"readings": {"a": 1}, "type": "t", ` + at), true},
		{"every field", ev(`"eid": "e", "data": {"a": 1}, "type": "t", "location": {"lat": 1, "lon": 2}, "readings": {"a": 1}, ` + at), true},
		{"empty readings", ev(`"readings": {}`), true},
		{"empty location", ev(`"location": {}`), true},
		{"location without lon", ev(`"location": {"lat": -1.5}`), true},
		{"empty events", `{"vid": "v1", "events": []}`, true},
		{"empty events spaced", `{"vid": "v1", "events": [ ]}`, true},
		{"no events", `{"vid": "v1"}`, true},
		{"empty object", `{}`, true},
		{"keys in any order", `{"events": [{"readings": {"b": 2, "a": 1}, "eid": "e"}], "vid": "v1"}`, true},
		{"all JSON spacing", " \t\r\n{ \"vid\"\n:\t\"v1\" ,\r\"events\" : [ { \"type\" : \"t\" , \"readings\" : { \"a\" : 1 } } , { } ] } \n", true},
		{"jsonb spacing", `{"vid": "v1", "events": [{"eid": "e", "type": "t", "readings": {"a": 1, "bb": 2.5}, ` + at + `}, {"eid": "f"}]}`, true},

		{"data with braces and quotes in strings", ev(`"data": {"s": "}{][\"\\", "t": [",", ":", "{"]}`), true},
		{"data with escapes", ev(`"data": {"s": "\u00e9\n\/\b\f\r\t", "\u0041": true}`), true},
		{"data with non-ASCII", ev(`"data": {"s": "zażółć"}`), true},
		{"data with invalid UTF-8", ev("\"data\": {\"s\": \"\xff\xfe\"}"), true},
		{"data of every kind", ev(`"data": {"a": [], "b": {}, "c": [true, false, null, -0.5e+3, "x", [[{}]]]}`), true},
		{"data not an object", ev(`"data": [1, "2"]`), true},
		{"data a string", ev(`"data": "x"`), true},
		{"data a number", ev(`"data": 12`), true},
		{"data null", ev(`"data": null`), false},
		{"data bad escape", ev(`"data": {"s": "\x"}`), false},
		{"data short unicode escape", ev(`"data": {"s": "\u12"}`), false},
		{"data control byte", ev("\"data\": {\"s\": \"\x01\"}"), false},
		{"data trailing comma", ev(`"data": {"a": 1,}`), false},
		{"data trailing comma in array", ev(`"data": [1,]`), false},
		{"data missing colon", ev(`"data": {"a" 1}`), false},
		{"data bad literal", ev(`"data": {"a": tru}`), false},
		{"data unclosed", `{"vid": "v1", "events": [{"data": {"a": [1, 2}]}`, false},
		{"data deep", ev(`"data": ` + strings.Repeat("[", 1200) + strings.Repeat("]", 1200)), false},
		{"data too deep for encoding/json", ev(`"data": ` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001)), false},

		{"escape in vid", `{"vid": "v\u0031"}`, false},
		{"escape in eid", ev(`"eid": "e\n"`), false},
		{"escape in type", ev(`"type": "t\/"`), false},
		{"escape in reading name", ev(`"readings": {"\u0061": 1}`), false},
		{"escape in key", `{"v\u0069d": "v1"}`, false},
		{"non-ASCII in eid", ev(`"eid": "é"`), false},
		{"invalid UTF-8 in eid", ev("\"eid\": \"\xff\""), false},
		{"control byte in eid", ev("\"eid\": \"a\tb\""), false},
		{"DEL in eid", ev("\"eid\": \"a\x7fb\""), true},

		{"integer reading", ev(`"readings": {"a": 12345}`), true},
		{"negative zero", ev(`"readings": {"a": -0, "b": -0.0}`), true},
		{"15 digits", ev(`"readings": {"a": 123456789.012345, "b": 0.00000000000001}`), true},
		{"16 digits", ev(`"readings": {"a": 1234567890123456, "b": 0.1234567890123456}`), true},
		{"many digits", ev(`"readings": {"a": 123456789012345678901234567890.123456789}`), true},
		{"exponents", ev(`"readings": {"a": 1e3, "b": 1E+3, "c": -2.5e-3, "d": 0e0}`), true},
		{"largest float", ev(`"readings": {"a": 1.7976931348623157e308}`), true},
		{"tiny float", ev(`"readings": {"a": 5e-324, "b": 1e-400}`), true},
		{"number too big", ev(`"readings": {"a": 1e309}`), false},
		{"number too big in location", ev(`"location": {"lat": -1e400}`), false},
		{"leading zero", ev(`"readings": {"a": 01}`), false},
		{"plus sign", ev(`"readings": {"a": +1}`), false},
		{"bare point", ev(`"readings": {"a": 1.}`), false},
		{"leading point", ev(`"readings": {"a": .5}`), false},
		{"bare minus", ev(`"readings": {"a": -}`), false},
		{"bare exponent", ev(`"readings": {"a": 1e}`), false},
		{"hex", ev(`"readings": {"a": 0x10}`), false},
		{"infinity", ev(`"readings": {"a": Infinity}`), false},
		{"string reading", ev(`"readings": {"a": "1"}`), false},
		{"reading twice", ev(`"readings": {"a": 1, "a": 2}`), true},
		{"names unlike the last event's", `{"events": [{"readings": {"ab": 1, "b": 2}}, {"readings": {"abc": 1, "a": 2, "b": 3, "c": 4}}, {"readings": {"a": 5}}]}`, true},
		{"name escaped after the last event's", `{"events": [{"readings": {"a": 1}}, {"readings": {"a\u0062": 2}}]}`, false},
		{"name unclosed after the last event's", `{"events": [{"readings": {"a": 1}}, {"readings": {"a`, false},

		{"time with fraction", ev(`"occurred_at": "2026-06-01T10:00:00.123456789Z"`), true},
		{"time with offset", ev(`"occurred_at": "2026-06-01T10:00:00+02:00"`), true},
		{"time with zero offset", ev(`"occurred_at": "2026-06-01T10:00:00-00:00"`), true},
		{"time at the end of 9999", ev(`"occurred_at": "9999-12-31T23:59:59.999999999+14:00"`), true},
		{"time lower case", ev(`"occurred_at": "2026-06-01t10:00:00z"`), false},
		{"time with space", ev(`"occurred_at": "2026-06-01 10:00:00Z"`), false},
		{"time month 13", ev(`"occurred_at": "2026-13-01T10:00:00Z"`), false},
		{"time hour 24", ev(`"occurred_at": "2026-06-01T24:00:00Z"`), false},
		{"time without zone", ev(`"occurred_at": "2026-06-01T10:00:00"`), false},
		{"time offset of 24 hours", ev(`"occurred_at": "2026-06-01T10:00:00+24:00"`), true},
		{"time offset of 25 hours", ev(`"occurred_at": "2026-06-01T10:00:00+25:00"`), false},
		{"time offset of 60 minutes", ev(`"occurred_at": "2026-06-01T10:00:00+01:60"`), true},
		{"time a number", ev(`"occurred_at": 1780000000`), false},
		{"time null", ev(`"occurred_at": null`), false},
		{"time empty", ev(`"occurred_at": ""`), false},
		{"time escaped", ev(`"occurred_at": "2026-06-01T10:00:00\u005a"`), false},

		{"vid null", `{"vid": null}`, false},
		{"events null", `{"vid": "v1", "events": null}`, false},
		{"event null", `{"vid": "v1", "events": [null]}`, false},
		{"readings null", ev(`"readings": null`), false},
		{"location null", ev(`"location": null`), false},
		{"eid null", ev(`"eid": null`), false},
		{"vid a number", `{"vid": 1}`, false},
		{"events an object", `{"vid": "v1", "events": {}}`, false},
		{"readings an array", ev(`"readings": [1]`), false},
		{"lat a string", ev(`"location": {"lat": "1"}`), false},

		{"vid twice", `{"vid": "a", "vid": "b"}`, false},
		{"events twice", `{"events": [{"eid": "a"}], "events": []}`, false},
		{"readings twice", ev(`"readings": {"a": 1, "c": 3}, "readings": {"b": 2, "c": 4}`), false},
		{"readings twice, then null", ev(`"readings": {"a": 1}, "readings": null`), false},
		{"readings twice, not plain", ev(`"readings": {"a": 1}, "readings": {"\\u0062": 2}`), false},
		{"location twice", ev(`"location": {"lat": 1}, "location": {"lon": 2}`), false},
		{"lat twice", ev(`"location": {"lat": 1, "lat": 2}`), false},
		{"eid twice", ev(`"eid": "a", "eid": "b"`), false},
		{"data twice", ev(`"data": 1, "data": 2`), false},
		{"key of another case", `{"VID": "v1"}`, false},
		{"field of another case", ev(`"Type": "t"`), false},
		{"unknown key", `{"vid": "v1", "extra": 1}`, false},
		{"unknown event key", ev(`"extra": 1`), false},
		{"unknown location key", ev(`"location": {"alt": 1}`), false},

		{"trailing garbage", `{"vid": "v1"} x`, false},
		{"second object", `{"vid": "v1"}{}`, false},
		{"extra brace", `{"vid": "v1"}}`, false},
		{"trailing comma", `{"vid": "v1",}`, false},
		{"trailing comma in events", `{"events": [{},]}`, false},
		{"comma first", `{, "vid": "v1"}`, false},
		{"unclosed", `{"vid": "v1"`, false},
		{"unclosed events", `{"events": [{}`, false},
		{"unclosed string", `{"vid": "v1`, false},
		{"missing colon", `{"vid" "v1"}`, false},
		{"missing comma", `{"vid": "v1" "events": []}`, false},
		{"null document", `null`, false},
		{"array document", `[]`, false},
		{"empty document", ``, false},
		{"spaces only", `  `, false},
		{"single quotes", `{'vid': 'v1'}`, false},
		{"byte order mark", "\xef\xbb\xbf{}", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if parsed := checkSameAsEncodingJSON(t, []byte(c.doc)); parsed != c.parsed {
				t.Errorf("parsed by hand: %v, want %v", parsed, c.parsed)
			}
		})
	}
}

// TestParseVehicleEventsRecorded_TakesStoredBatches: the batches the log
// holds, as encoding/json writes them and as jsonb gives them back, are
// parsed by hand (else decoding is slow again, silently).
func TestParseVehicleEventsRecorded_TakesStoredBatches(t *testing.T) {
	withData := realisticBatch("store-v0001", 3)
	withData.Events[1].Data = json.RawMessage(`{"note": "brake {hard}", "codes": ["P0300", 17], "ok": false}`)
	withData.Events[2].Location, withData.Events[2].Readings, withData.Events[2].EID = nil, nil, ""
	for name, data := range map[string][]byte{
		"jsonb":         jsonbText(t, realisticBatch("store-v0000", 60)),
		"encoding/json": mustMarshal(t, realisticBatch("store-v0000", 60)),
		"jsonb, data":   jsonbText(t, withData),
		"json, data":    mustMarshal(t, withData),
		"jsonb, empty":  jsonbText(t, VehicleEventsRecorded{VID: "v", Events: []VehicleEvent{}}),
	} {
		t.Run(name, func(t *testing.T) {
			if !checkSameAsEncodingJSON(t, data) {
				t.Errorf("not parsed by hand: %s", data)
			}
		})
	}
}

// TestHasStringSpecialByte: the eight-byte test agrees with the byte
// table for every byte at every place, and every pair of bytes side by
// side (a borrow between bytes must not hide one).
func TestHasStringSpecialByte(t *testing.T) {
	for place := range 8 {
		for c := range 256 {
			w := []byte("aaaaaaaa")
			w[place] = byte(c)
			if got := hasStringSpecialByte(binary.LittleEndian.Uint64(w)); got == plainStringByte[c] {
				t.Fatalf("byte %#x at %d: special %v", c, place, got)
			}
		}
	}
	for place := range 7 {
		for c := range 256 {
			for d := range 256 {
				w := []byte("aaaaaaaa")
				w[place], w[place+1] = byte(c), byte(d)
				want := !plainStringByte[c] || !plainStringByte[d]
				if got := hasStringSpecialByte(binary.LittleEndian.Uint64(w)); got != want {
					t.Fatalf("bytes %#x %#x at %d: special %v", c, d, place, got)
				}
			}
		}
	}
}

func mustMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestParsePlainReadings_EqualsEncodingJSON(t *testing.T) {
	for _, doc := range []string{`{}`, ` {"a": 1, "b": -2.5e3} `, `{"a": 1, "a": 2}`, `{"a": 01}`, `{"a": 1} x`,
		`{"a": 1,}`, `{"\u0061": 1}`, `{"a": null}`, `null`} {
		checkPlainReadings(t, []byte(doc))
	}
}

// checkPlainReadings fails if parsePlainReadings takes data other than
// encoding/json decodes it into a map.
func checkPlainReadings(t *testing.T, data []byte) {
	t.Helper()
	m, ok := parsePlainReadings(data)
	if !ok {
		return
	}
	var want map[string]float64
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%s: parsed, but encoding/json: %v", data, err)
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("%s: parsed %v, encoding/json %v", data, m, want)
	}
	for k, v := range m {
		if math.Float64bits(v) != math.Float64bits(want[k]) {
			t.Fatalf("%s: %s parsed %v, encoding/json %v", data, k, v, want[k])
		}
	}
}

// FuzzDecodeVehicleEventsRecorded: DecodeEvent (its hand parser and its
// fallback to encoding/json) and encoding/json alone agree on every
// document, valid or not; and what parsePlainReadings takes,
// encoding/json decodes alike.
func FuzzDecodeVehicleEventsRecorded(f *testing.F) {
	for _, doc := range readingsCorpus {
		f.Add([]byte(doc))
	}
	small := realisticBatch("store-v0002", 2)
	small.Events[1].Data = json.RawMessage(`{"a": ["}", "\"", {"b": null}], "c": 1.5e-3}`)
	f.Add(jsonbText(f, small))
	f.Add(mustMarshal(f, small))
	f.Add(jsonbText(f, realisticBatch("store-v0003", 4)))
	f.Add([]byte(` {"events" :[ {"occurred_at":"2026-06-01T10:00:00.5+02:00","location":{"lon":-0.0,"lat":1E2}} ,{}],"vid":""}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameAsEncodingJSON(t, data)
		checkPlainReadings(t, data)
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
