package archive

import (
	"errors"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// FuzzDecodeFile feeds arbitrary bytes to the file decoder: it must refuse
// them with ErrCorrupt or ErrUnknownSchemaVersion, or decode them, never
// panic.
func FuzzDecodeFile(f *testing.F) {
	b := newLogBuilder(f)
	at := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	b.add("telemetry-s1", domain.RecordMeasurements("s1", []domain.Measurement{{ID: "m1", Type: "pm25", Value: 1, MeasuredAt: at}}), at)
	b.add("telemetry-v1", domain.RecordVehicleEvents("v1", []domain.VehicleEvent{{EID: "e1", Type: "t", OccurredAt: at,
		Readings: map[string]float64{"a": 1, "b": 2}, Location: &domain.Location{Lat: 1, Lon: 2}}}), at)
	data, _, err := encodeFile(b.events)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := decodeFile("fuzz.parquet", data)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownSchemaVersion) {
			t.Fatalf("decode = %v, want ErrCorrupt or ErrUnknownSchemaVersion", err)
		}
	})
}
