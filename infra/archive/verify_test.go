package archive

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// TestVerify_FindsAnyValueThatDiffersFromWhatWasWritten writes a file and
// verifies it against its rows with one value changed, for every column:
// each change is found, named, and is ErrCorrupt.
func TestVerify_FindsAnyValueThatDiffersFromWhatWasWritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newLogBuilder(t)
	at := day.Add(time.Hour)
	b.add("telemetry-s1", domain.RecordMeasurements("s1", []domain.Measurement{
		{ID: "m1", Type: "pm25", Value: 12.3, MeasuredAt: at}, {ID: "m2", Type: "no2", Value: -0.5, MeasuredAt: at}}), at)
	b.add("telemetry-v1", domain.RecordVehicleEvents("v1", []domain.VehicleEvent{
		{EID: "e1", Type: "telemetry", OccurredAt: at, Readings: map[string]float64{"speed_kmh": 50.5, "rpm": 2000}, Location: &domain.Location{Lat: 50.1, Lon: 19.9}},
		{EID: "e2", Type: "door_open", OccurredAt: at.Add(time.Second), Data: json.RawMessage(`{"door": "left"}`)}}), at.Add(time.Second))
	rows, sum, err := rowsOf(b.events)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := encodeRows(rows, sum)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := domain.ArchivedRange{File: "f.parquet", Bytes: int64(len(data)), SHA256: sha(data), SchemaVersion: SchemaVersion}
	if err := dir.WriteAll(ctx, r.File, data); err != nil {
		t.Fatal(err)
	}
	a := NewArchiver(nil, dir, nil, Config{})
	if err := a.verify(ctx, r, rows, spreader(make(chan struct{}, 3))); err != nil {
		t.Fatalf("verify of the rows written: %v", err)
	}
	other := 1.5
	var e1, e2 int // the rows of the vehicle events
	for i, r := range rows {
		switch r.ItemID {
		case "e1":
			e1 = i
		case "e2":
			e2 = i
		}
	}
	for _, tc := range []struct {
		column string
		change func(rs []row)
	}{
		{"kind", func(rs []row) { rs[0].Kind = kindVehicleEvent }},
		{"device_id", func(rs []row) { rs[0].DeviceID = "s2" }},
		{"type", func(rs []row) { rs[1].Type = "pm10" }},
		{"measured_at", func(rs []row) { rs[0].At = rs[0].At.Add(time.Nanosecond) }},
		{"item_id", func(rs []row) { rs[0].ItemID = "m9" }},
		{"value", func(rs []row) { rs[0].Value = &other }},
		{"value", func(rs []row) { rs[0].Value = nil }},
		{"readings", func(rs []row) { rs[e1].Readings = nil }},
		{"readings", func(rs []row) { rs[e2].Readings = map[string]float64{"speed_kmh": 50.5} }},
		{"readings", func(rs []row) { rs[e2].Readings = map[string]float64{} }},
		{"readings", func(rs []row) { rs[e1].Readings = map[string]float64{"speed_kmh": 50.5} }},
		{"readings", func(rs []row) { rs[e1].Readings = map[string]float64{"speed_kmh": 50.5, "rpm": 2001} }},
		{"readings", func(rs []row) { rs[e1].Readings = map[string]float64{"speed_kmh": 50.5, "rpm": 2000, "x": 1} }},
		{"readings", func(rs []row) { rs[e1].Readings = map[string]float64{"speed_kmh": 50.5, "rmp": 2000} }},
		{"lat", func(rs []row) { rs[e1].Lat = &other }},
		{"lon", func(rs []row) { rs[e1].Lon = nil }},
		{"lon", func(rs []row) { rs[e2].Lon = &other }},
		{"data", func(rs []row) { s := `{"door": "right"}`; rs[e2].Data = &s }},
		{"data", func(rs []row) { rs[e2].Data = nil }},
		{"event_id", func(rs []row) { rs[0].EventID = "x" }},
		{"event_type", func(rs []row) { rs[0].EventType = domain.TypeMeasurementRecorded }},
		{"stream_id", func(rs []row) { rs[0].StreamID = "telemetry-s2" }},
		{"stream_version", func(rs []row) { rs[0].StreamVersion++ }},
		{"log_commit", func(rs []row) { rs[0].LogCommit++ }},
		{"log_position", func(rs []row) { rs[0].LogPosition++ }},
		{"item_index", func(rs []row) { rs[0].ItemIndex++ }},
		{"recorded_at", func(rs []row) { rs[0].RecordedAt = rs[0].RecordedAt.Add(time.Microsecond) }},
		{"rows", func(rs []row) {}}, // one row fewer, below
	} {
		t.Run(tc.column, func(t *testing.T) {
			changed := append([]row(nil), rows...)
			if tc.column == "rows" {
				changed = changed[:len(changed)-1]
			}
			tc.change(changed)
			err := a.verify(ctx, r, changed, spreader(make(chan struct{}, 3)))
			if !errors.Is(err, ErrCorrupt) || (tc.column != "rows" && !strings.Contains(err.Error(), tc.column)) {
				t.Fatalf("verify = %v, want ErrCorrupt naming %s", err, tc.column)
			}
		})
	}
}
