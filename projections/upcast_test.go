package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

// TestUpcast_AnOldLogProjectsToTheSameReadModelsAsTheSameItemsInBatches:
// the same measurements and vehicle events, recorded in the first log
// format (one event per item, as logs written before batches hold them)
// for one pair of devices and as batches for another, project to the same
// read models, device for device: raw items, daily and hourly aggregates,
// latest values.
func TestUpcast_AnOldLogProjectsToTheSameReadModelsAsTheSameItemsInBatches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, id := range []string{"old-st", "new-st"} {
		e.registerStation(t, id, "Europe/Warsaw")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	ms := randomMeasurements(rng, 300)
	for i := range ms {
		ms[i].ID = fmt.Sprintf("m%d", i)
	}
	var vs []domain.VehicleEvent
	for i := range 100 {
		v := domain.VehicleEvent{EID: fmt.Sprintf("e%d", i), Type: "telemetry", OccurredAt: at("2026-03-01T10:00:00Z").Add(time.Duration(i) * time.Second),
			Readings: map[string]float64{"speed_kmh": float64(rng.IntN(130)), "fuel_pct": float64(rng.IntN(100))}}
		if i%3 == 0 {
			v.Location = &domain.Location{Lat: 50, Lon: 19.9 + float64(i)/1000}
		}
		if i%5 == 0 {
			v.Readings, v.Data = nil, []byte(`{"door":"rear"}`)
		}
		vs = append(vs, v)
	}
	// The first format: one event per item, its key as the event id.
	e.record(t, "old-st", ms...)
	var old []domain.EventData
	for _, v := range vs {
		d, err := domain.NewEventData(domain.TelemetryItemKey("old-veh", v.EID), v.Recorded("old-veh"))
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, d)
	}
	if _, err := e.store.Append(ctx, domain.TelemetryStream("old-veh"), domain.AnyVersion, old); err != nil {
		t.Fatal(err)
	}
	// Batches, as the command side records them now.
	for part := range slices.Chunk(ms, 60) {
		if _, err := e.store.AppendTelemetry(ctx, domain.TelemetryStream("new-st"), uuid.NewString(), domain.RecordMeasurements("new-st", part)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.AppendTelemetry(ctx, domain.TelemetryStream("new-veh"), uuid.NewString(), domain.RecordVehicleEvents("new-veh", vs)); err != nil {
		t.Fatal(err)
	}
	e.catchUp(t)

	// Everything each device has, with the device renamed, in one order.
	of := func(device string) []string {
		var out []string
		add := func(sql string) {
			rows, err := e.pool.Query(ctx, sql, device)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprint(vals...))
			}
			rows.Close()
		}
		add(`SELECT 'daily', name, day::text, count, round(sum::numeric, 6), min, max FROM rm_daily WHERE device_id = $1 ORDER BY 2, 3`)
		add(`SELECT 'hourly', name, hour, count, round(sum::numeric, 6), min, max FROM rm_hourly WHERE device_id = $1 ORDER BY 2, 3`)
		add(`SELECT 'latest', name, value, measured_at FROM rm_latest WHERE device_id = $1 ORDER BY 2`)
		var raw []string
		if err := e.rms.EachRawMeasurement(ctx, func(m readmodel.RawMeasurement) error {
			if m.DeviceID == device {
				raw = append(raw, fmt.Sprint("raw ", m.Type, m.ID, m.Value, m.MeasuredAt.UTC()))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.rms.EachRawVehicleEvent(ctx, func(v readmodel.RawVehicleEvent) error {
			if v.DeviceID == device {
				raw = append(raw, fmt.Sprint("event ", v.EID, v.Type, v.OccurredAt.UTC(), v.Readings, v.HasLocation, v.Lat, v.Lon, string(v.Data)))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(raw)
		return append(out, raw...)
	}
	for _, pair := range [][2]string{{"old-st", "new-st"}, {"old-veh", "new-veh"}} {
		a, b := of(pair[0]), of(pair[1])
		if len(a) < 10 || !slices.Equal(a, b) {
			t.Fatalf("%s and %s project differently (%d and %d rows):\n%s\n---\n%s", pair[0], pair[1], len(a), len(b),
				strings.Join(a[:min(8, len(a))], "\n"), strings.Join(b[:min(8, len(b))], "\n"))
		}
	}
}
