package domain

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// checkMarshalsAsJSON checks that MarshalEvent writes what json.Marshal
// writes for e, byte for byte, or fails where it fails.
func checkMarshalsAsJSON(t *testing.T, e Event) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	got, err := MarshalEvent(e)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("MarshalEvent error %v, json.Marshal error %v", err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalEvent wrote\n%s\njson.Marshal writes\n%s", got, want)
	}
}

func TestMarshalEvent_WritesWhatJSONMarshalWrites(t *testing.T) {
	at := time.Date(2026, 11, 29, 7, 15, 0, 123456789, time.UTC)
	loc := &Location{Lat: 50.024656, Lon: 19.904496}
	readings := map[string]float64{"speed_kmh": 40.3, "battery_v": 13.95, "engine_rpm": 2019, "tire_fl_kpa": 230}
	vehicle := func(mod func(*VehicleEvent)) Event {
		v := VehicleEvent{EID: "v-1", Type: "telemetry", OccurredAt: at, Readings: readings, Location: loc}
		mod(&v)
		return VehicleEventsRecorded{VID: "v-1", Events: []VehicleEvent{v, {EID: "v-2", Type: "door", OccurredAt: at.Add(time.Second)}}}
	}
	measurement := func(mod func(*Measurement)) Event {
		m := Measurement{ID: "m-1", Type: "pm25", Value: 12.5, MeasuredAt: at}
		mod(&m)
		return MeasurementsRecorded{StationID: "st-1", Measurements: []Measurement{m}}
	}
	for name, e := range map[string]Event{
		"vehicle batch":  vehicle(func(*VehicleEvent) {}),
		"no events":      VehicleEventsRecorded{VID: "v-1"},
		"empty events":   VehicleEventsRecorded{VID: "v-1", Events: []VehicleEvent{}},
		"no eid":         vehicle(func(v *VehicleEvent) { v.EID = "" }),
		"empty readings": vehicle(func(v *VehicleEvent) { v.Readings = map[string]float64{} }),
		"data":           vehicle(func(v *VehicleEvent) { v.Data = json.RawMessage(`{ "door" : "open", "n": [1, 2] }`) }),
		"data with characters json.Marshal escapes": vehicle(func(v *VehicleEvent) {
			v.Data = json.RawMessage("{\"a&b\": \"<x>\", \"s\": \"\u2028\u2029\"}")
		}),
		"data not json":              vehicle(func(v *VehicleEvent) { v.Data = json.RawMessage(`{"door": `) }),
		"reading NaN":                vehicle(func(v *VehicleEvent) { v.Readings = map[string]float64{"x": math.NaN()} }),
		"reading infinite":           vehicle(func(v *VehicleEvent) { v.Readings = map[string]float64{"x": math.Inf(-1)} }),
		"latitude infinite":          vehicle(func(v *VehicleEvent) { v.Location = &Location{Lat: math.Inf(1)} }),
		"reading name to escape":     vehicle(func(v *VehicleEvent) { v.Readings = map[string]float64{"a<b": 1, `q"`: 2} }),
		"reading name not ascii":     vehicle(func(v *VehicleEvent) { v.Readings = map[string]float64{"température": 1} }),
		"eid with ampersand":         vehicle(func(v *VehicleEvent) { v.EID = "a&b" }),
		"type with control byte":     vehicle(func(v *VehicleEvent) { v.Type = "a\x01" }),
		"time with an offset":        vehicle(func(v *VehicleEvent) { v.OccurredAt = at.In(time.FixedZone("x", 3600)) }),
		"time in a zone at UTC":      vehicle(func(v *VehicleEvent) { v.OccurredAt = at.In(time.FixedZone("GMT", 0)) }),
		"offset with seconds":        vehicle(func(v *VehicleEvent) { v.OccurredAt = at.In(time.FixedZone("x", -(3*3600 + 61))) }),
		"offset just under a day":    vehicle(func(v *VehicleEvent) { v.OccurredAt = at.In(time.FixedZone("x", 24*3600-1)) }),
		"offset of a day":            vehicle(func(v *VehicleEvent) { v.OccurredAt = at.In(time.FixedZone("x", -24*3600)) }),
		"offset of 25 hours":         vehicle(func(v *VehicleEvent) { v.OccurredAt = at.In(time.FixedZone("x", 25*3600)) }),
		"year 10000":                 vehicle(func(v *VehicleEvent) { v.OccurredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"year 0":                     vehicle(func(v *VehicleEvent) { v.OccurredAt = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"zero time":                  vehicle(func(v *VehicleEvent) { v.OccurredAt = time.Time{} }),
		"measurement batch":          measurement(func(*Measurement) {}),
		"no measurements":            MeasurementsRecorded{StationID: "st-1"},
		"measurement without id":     measurement(func(m *Measurement) { m.ID = "" }),
		"value 1e21":                 measurement(func(m *Measurement) { m.Value = 1e21 }),
		"value just below 1e21":      measurement(func(m *Measurement) { m.Value = 999999999999999999999 }),
		"value 1e-7":                 measurement(func(m *Measurement) { m.Value = 1e-7 }),
		"value 1e-6":                 measurement(func(m *Measurement) { m.Value = 1e-6 }),
		"value smallest":             measurement(func(m *Measurement) { m.Value = 5e-324 }),
		"value largest":              measurement(func(m *Measurement) { m.Value = math.MaxFloat64 }),
		"value negative zero":        measurement(func(m *Measurement) { m.Value = math.Copysign(0, -1) }),
		"value negative tiny":        measurement(func(m *Measurement) { m.Value = -1.5e-300 }),
		"value NaN":                  measurement(func(m *Measurement) { m.Value = math.NaN() }),
		"station id with a quote":    MeasurementsRecorded{StationID: `st"1`},
		"measurement type not ascii": measurement(func(m *Measurement) { m.Type = "pm₂₅" }),
		"another event":              StationRegistered{StationID: "st-1"},
		"samples whose names change": VehicleEventsRecorded{VID: "v-1", Events: []VehicleEvent{
			{Type: "t", OccurredAt: at, Readings: map[string]float64{"a": 1, "b": 2}},
			{Type: "t", OccurredAt: at, Readings: map[string]float64{"b": 3, "a": 4}},
			{Type: "t", OccurredAt: at, Readings: map[string]float64{"a": 5, "c": 6}},
			{Type: "t", OccurredAt: at, Readings: map[string]float64{"c": 7}},
			{Type: "t", OccurredAt: at},
			{Type: "t", OccurredAt: at, Readings: map[string]float64{"c": 8, "b": 9, "a": 10}},
			{Type: "t", OccurredAt: at, Readings: map[string]float64{"a": 11, "c": 12}},
		}},
		"a later sample's name to escape": VehicleEventsRecorded{VID: "v-1", Events: []VehicleEvent{
			{Type: "t", OccurredAt: at, Readings: map[string]float64{"a": 1, "b": 2}},
			{Type: "t", OccurredAt: at, Readings: map[string]float64{"a": 1, "b<": 2}},
		}},
	} {
		t.Run(name, func(t *testing.T) { checkMarshalsAsJSON(t, e) })
	}
}

func FuzzMarshalEvent(f *testing.F) {
	f.Add("v-1", "telemetry", "speed_kmh", 40.3, 50.024656, int64(1764400500123456789), int32(0), true, []byte(`{"a": 1}`))
	f.Add("st-1", "pm25", "", 1e21, -1e-7, int64(0), int32(3601), false, []byte(nil))
	f.Add("a<b", "x\x00", "n\"", math.Inf(1), 5e-324, int64(-62135596800000000), int32(-90000), true, []byte(`[`))
	f.Fuzz(func(t *testing.T, id, typ, name string, value, coord float64, nanos int64, offset int32, located bool, data []byte) {
		at := time.Unix(0, nanos).In(time.FixedZone("z", int(offset)))
		checkMarshalsAsJSON(t, MeasurementsRecorded{StationID: id, Measurements: []Measurement{
			{ID: id, Type: typ, Value: value, MeasuredAt: at}, {Type: name, Value: coord, MeasuredAt: at.Add(time.Hour)}}})
		v := VehicleEvent{EID: id, Type: typ, OccurredAt: at, Readings: map[string]float64{name: value, typ: coord}, Data: data}
		if located {
			v.Location = &Location{Lat: coord, Lon: value}
		}
		// Later samples with the same names, fewer, and the same number
		// of others.
		checkMarshalsAsJSON(t, VehicleEventsRecorded{VID: id, Events: []VehicleEvent{v, {Type: typ, OccurredAt: at},
			{OccurredAt: at, Readings: map[string]float64{typ: value, name: coord}}, {OccurredAt: at, Readings: map[string]float64{name: value}},
			{OccurredAt: at, Readings: map[string]float64{id: value, typ + "x": coord}}}})
	})
}

// BenchmarkMarshalEvent encodes a realistic batch of 60 vehicle samples,
// as an append does and as the archive's reader does for each batch it
// gives back: json.Marshal against MarshalEvent.
//
//	go test ./domain/ -run '^$' -bench MarshalEvent -benchtime 2s
func BenchmarkMarshalEvent(b *testing.B) {
	batch := realisticBatch("v-0001", 60)
	for _, tc := range []struct {
		name    string
		marshal func(Event) ([]byte, error)
	}{
		{"encoding-json", func(e Event) ([]byte, error) { return json.Marshal(e) }},
		{"MarshalEvent", MarshalEvent},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.marshal(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Events)), "ns/sample")
		})
	}
}
