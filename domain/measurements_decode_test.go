package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkMeasurementsSameAsEncodingJSON fails unless DecodeEvent decodes data
// as encoding/json alone does: both refuse it, or both give the same batch,
// down to the bits of its values. It returns whether the hand parser took
// data.
func checkMeasurementsSameAsEncodingJSON(t *testing.T, data []byte) (parsed bool) {
	t.Helper()
	var plain MeasurementsRecorded
	plainErr := json.Unmarshal(data, &plain)
	fast, fastErr := DecodeEvent(TypeMeasurementsRecorded, data)
	if (plainErr == nil) != (fastErr == nil) {
		t.Fatalf("%s:\nencoding/json %v\nDecodeEvent   %v", data, plainErr, fastErr)
	}
	_, parsed = parseMeasurementsRecorded(data)
	if parsed && plainErr != nil {
		t.Fatalf("%s: parsed by hand, refused by encoding/json: %v", data, plainErr)
	}
	if plainErr != nil {
		return parsed
	}
	got := fast.(MeasurementsRecorded)
	same := got.StationID == plain.StationID && len(got.Measurements) == len(plain.Measurements) &&
		(got.Measurements == nil) == (plain.Measurements == nil)
	for i := 0; same && i < len(got.Measurements); i++ {
		a, b := got.Measurements[i], plain.Measurements[i]
		same = a.ID == b.ID && a.Type == b.Type && math.Float64bits(a.Value) == math.Float64bits(b.Value) &&
			a.MeasuredAt.Equal(b.MeasuredAt) && reflect.DeepEqual(a.MeasuredAt.Location(), b.MeasuredAt.Location()) &&
			a.MeasuredAt.String() == b.MeasuredAt.String()
	}
	if !same {
		t.Fatalf("%s:\nencoding/json %+v\nDecodeEvent   %+v", data, plain, got)
	}
	return parsed
}

// stationBatch is a realistic batch of n measurements as the log stores
// it, in jsonb::text's spelling (keys by length, then bytes; ": " and ", ").
func stationBatch(n int) []byte {
	at := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"id": "st-042-%d", "type": "pm25", "value": %g, "measured_at": %q}`,
			i, float64((i*37)%500)/10, at.Add(time.Duration(i)*time.Minute).Format(time.RFC3339Nano))
	}
	return []byte(`{"station_id": "st-042", "measurements": [` + strings.Join(items, ", ") + `]}`)
}

func TestDecodeMeasurementsRecorded_EqualsEncodingJSON(t *testing.T) {
	for name, c := range map[string]struct {
		doc    string
		parsed bool // taken by the hand parser
	}{
		"stored":              {string(stationBatch(60)), true},
		"json.Marshal's":      {`{"station_id":"st-1","measurements":[{"id":"m-1","type":"pm25","value":12.5,"measured_at":"2026-11-29T07:00:00.123456789Z"}]}`, true},
		"no id":               {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-11-29T07:00:00Z"}]}`, true},
		"empty":               {`{"station_id": "st-1", "measurements": []}`, true},
		"no measurements":     {`{"station_id": "st-1"}`, true},
		"measurements null":   {`{"station_id": "st-1", "measurements": null}`, false},
		"value null":          {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": null}]}`, false},
		"time null":           {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": 1, "measured_at": null}]}`, false},
		"time with an offset": {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-11-29T07:00:00+02:00"}]}`, true},
		"bad time":            {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": 1, "measured_at": "yesterday"}]}`, false},
		"value too big":       {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": 1e400}]}`, false},
		"value exponent":      {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": -1.5e-7}]}`, true},
		"value 17 digits":     {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": 0.30000000000000004}]}`, true},
		"value negative zero": {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": -0}]}`, true},
		"value leading zero":  {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": 01}]}`, false},
		"value a string":      {`{"station_id": "st-1", "measurements": [{"type": "pm25", "value": "1"}]}`, false},
		"unknown key":         {`{"station_id": "st-1", "measurements": [{"type": "pm25", "unit": "ug"}]}`, false},
		"key in other case":   {`{"Station_ID": "st-1"}`, false},
		"duplicate key":       {`{"station_id": "a", "station_id": "b"}`, false},
		"duplicate item key":  {`{"measurements": [{"type": "a", "type": "b"}]}`, false},
		"escape":              {`{"station_id": "st\u002d1"}`, false},
		"not ascii":           {`{"station_id": "stación"}`, false},
		"trailing garbage":    {`{"station_id": "st-1"} x`, false},
		"trailing comma":      {`{"station_id": "st-1", "measurements": [{"type": "a"},]}`, false},
		"truncated":           {string(stationBatch(3))[:80], false},
		"spacing":             {" \n{ \"measurements\" :[ { \"value\" : 2 , \"type\":\"x\" } ] , \"station_id\" :\"s\" }\t", true},
	} {
		t.Run(name, func(t *testing.T) {
			if parsed := checkMeasurementsSameAsEncodingJSON(t, []byte(c.doc)); parsed != c.parsed {
				t.Errorf("hand parser took it: %v, want %v", parsed, c.parsed)
			}
		})
	}
}

func FuzzDecodeMeasurementsRecorded(f *testing.F) {
	f.Add(stationBatch(3))
	f.Add([]byte(`{"station_id":"st-1","measurements":[{"id":"m-1","type":"pm25","value":12.5,"measured_at":"2026-11-29T07:00:00.5+01:00"}]}`))
	f.Add([]byte(`{"measurements": [{"value": 1E2}, {}], "station_id": ""}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkMeasurementsSameAsEncodingJSON(t, data) })
}

// BenchmarkDecodeMeasurementsRecorded decodes a stored batch of 60 station
// measurements, as every projection and rebuild does.
//
//	go test ./domain/ -run '^$' -bench DecodeMeasurementsRecorded -benchtime 2s
func BenchmarkDecodeMeasurementsRecorded(b *testing.B) {
	data := stationBatch(60)
	for _, tc := range []struct {
		name   string
		decode func() error
	}{
		{"encoding-json", func() error { var e MeasurementsRecorded; return json.Unmarshal(data, &e) }},
		{"DecodeEvent", func() error { _, err := DecodeEvent(TypeMeasurementsRecorded, data); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.decode(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*60), "ns/measurement")
		})
	}
}
