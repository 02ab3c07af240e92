package readmodel_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

// TestMigration_RowTablesOfAnOlderSchemaBecomeChunksWithEveryRow: a
// database as version 8 left it, with raw rows, vehicle events and hourly
// aggregates in the row tables, is migrated: every row is in the chunk
// tables (values, ids, times, readings, locations, data and recording
// times as they were), the hourly rows in the partitioned table, and the
// old tables are gone.
func TestMigration_RowTablesOfAnOlderSchemaBecomeChunksWithEveryRow(t *testing.T) {
	pool, _ := pgtest.NewEmptyDatabase(t)
	ctx := context.Background()
	sets := []postgres.MigrationSet{eventstore.Migrations(), readmodel.Migrations()}
	if err := postgres.MigrateTo(ctx, pool, quiet, 8, sets...); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO rm_measurements (device_id, type, measured_at, value, measurement_id, recorded_at)
		 SELECT 'st', 'pm25', $1::timestamptz + make_interval(mins => m), m * 1.5, 'm' || m,
		        CASE WHEN m % 2 = 0 THEN $1::timestamptz + interval '1 day' END
		 FROM generate_series(0, 299) AS m`,
		`INSERT INTO rm_vehicle_events (device_id, eid, type, occurred_at, readings, lat, lon, data) VALUES
		 ('veh', 'e1', 'telemetry', $1, '{"speed_kmh": 42.5, "fuel_pct": 80}', 50.1, 19.9, NULL),
		 ('veh', 'e2', 'door', $1::timestamptz + interval '1 second', NULL, NULL, NULL, '{"door": "rear"}')`,
		`INSERT INTO rm_hourly (device_id, name, hour, count, sum, min, max)
		 SELECT 'st', 'pm25', $1::timestamptz + make_interval(hours => h), 60, 90, 1, 2 FROM generate_series(0, 49) AS h`,
	} {
		if _, err := pool.Exec(ctx, q, at); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	if err := postgres.Migrate(ctx, pool, quiet, sets...); err != nil {
		t.Fatal(err)
	}

	w, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var points []readmodel.RawMeasurement
	if err := w.EachRawMeasurement(ctx, func(m readmodel.RawMeasurement) error { points = append(points, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(points) != 300 {
		t.Fatalf("%d raw points, want 300", len(points))
	}
	slices.SortFunc(points, func(a, b readmodel.RawMeasurement) int { return a.MeasuredAt.Compare(b.MeasuredAt) })
	for m, p := range points {
		if p.DeviceID != "st" || p.Type != "pm25" || p.Value != float64(m)*1.5 || !p.MeasuredAt.Equal(at.Add(time.Duration(m)*time.Minute)) {
			t.Fatalf("point %d came over as %+v", m, p)
		}
		if recorded := !p.RecordedAt.IsZero(); recorded != (m%2 == 0) || (recorded && !p.RecordedAt.Equal(at.Add(24*time.Hour))) {
			t.Fatalf("point %d's recording time came over as %v", m, p.RecordedAt)
		}
	}
	var events []readmodel.RawVehicleEvent
	if err := w.EachRawVehicleEvent(ctx, func(e readmodel.RawVehicleEvent) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(events, func(a, b readmodel.RawVehicleEvent) int { return a.OccurredAt.Compare(b.OccurredAt) })
	if len(events) != 2 || events[0].Readings["speed_kmh"] != 42.5 || !events[0].HasLocation || events[0].Lat != 50.1 ||
		events[1].Readings != nil || string(events[1].Data) != `{"door": "rear"}` || events[1].HasLocation {
		t.Fatalf("vehicle events came over as %+v", events)
	}
	var hourly int
	var old *string
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rm_hourly), to_regclass('rm_measurements_v1')::text`).Scan(&hourly, &old); err != nil {
		t.Fatal(err)
	}
	if hourly != 50 || old != nil {
		t.Fatalf("hourly rows %d (want 50), old table %v (want gone)", hourly, old)
	}
}
