package projections_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

type hourlyRow struct {
	Device, Name, Hour string
	Count              int64
	Sum, Min, Max      float64
}

func (e env) hourly(t *testing.T) []hourlyRow {
	t.Helper()
	rows := e.dailyQuery(t, `SELECT device_id, name, to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), count, sum, min, max FROM rm_hourly ORDER BY 1, 2, 3`)
	out := make([]hourlyRow, len(rows))
	for i, r := range rows {
		out[i] = hourlyRow{r.Device, r.Name, r.Day, r.Count, r.Sum, r.Min, r.Max}
	}
	return out
}

func TestHourlyAggregate_FollowsLocalHoursIncludingHalfHourZonesAndDST(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "del", "Asia/Kolkata") // UTC+05:30
	e.registerStation(t, "waw", "Europe/Warsaw")
	e.record(t, "del",
		domain.Measurement{Type: "pm25", Value: 1, MeasuredAt: at("2026-01-01T04:29:00Z")}, // 09:59 local
		domain.Measurement{Type: "pm25", Value: 2, MeasuredAt: at("2026-01-01T04:30:00Z")}, // 10:00 local
		domain.Measurement{Type: "pm25", Value: 3, MeasuredAt: at("2026-01-01T05:29:59Z")}, // 10:59:59 local
	)
	// 2026-10-25: Warsaw's 02:00-03:00 local hour happens twice (00:00Z and 01:00Z).
	e.record(t, "waw",
		domain.Measurement{Type: "pm25", Value: 4, MeasuredAt: at("2026-10-25T00:30:00Z")},
		domain.Measurement{Type: "pm25", Value: 5, MeasuredAt: at("2026-10-25T01:30:00Z")},
	)
	e.catchUp(t)
	got := e.hourly(t)
	want := []hourlyRow{
		{"del", "pm25", "2026-01-01T03:30", 1, 1, 1, 1},
		{"del", "pm25", "2026-01-01T04:30", 2, 5, 2, 3},
		{"waw", "pm25", "2026-10-25T00:00", 1, 4, 4, 4},
		{"waw", "pm25", "2026-10-25T01:00", 1, 5, 5, 5},
	}
	if len(got) != len(want) {
		t.Fatalf("hourly = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("hourly row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCorrections_ChangeEveryAffectedReadModelAndNothingElse(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clock := func() time.Time { return at("2026-03-10T00:00:00Z") }
	app := commands.NewApplication(e.store, clock, domain.DefaultTelemetryPolicy)
	e.registerStation(t, "st", "Europe/Warsaw")
	e.registerStation(t, "other", "UTC")
	if err := readmodel.AddBucketProjection(ctx, e.pool, projections.BucketSpec{Name: "q15", Width: 15 * time.Minute}, ""); err != nil {
		t.Fatal(err)
	}
	admin := commands.Caller{Admin: true}
	record := func(station string, ms ...domain.Measurement) {
		t.Helper()
		if _, err := app.RecordMeasurements.Handle(ctx, &commands.RecordMeasurements{Caller: admin, StationID: station, Measurements: ms}); err != nil {
			t.Fatal(err)
		}
	}
	record("st",
		domain.Measurement{ID: "low", Type: "pm25", Value: 5, MeasuredAt: at("2026-03-01T10:00:00Z")},
		domain.Measurement{ID: "mid", Type: "pm25", Value: 10, MeasuredAt: at("2026-03-01T10:20:00Z")},
		domain.Measurement{ID: "high", Type: "pm25", Value: 90, MeasuredAt: at("2026-03-01T12:00:00Z")},
		domain.Measurement{ID: "next-day", Type: "pm25", Value: 7, MeasuredAt: at("2026-03-02T10:00:00Z")},
		domain.Measurement{ID: "no2", Type: "no2", Value: 3, MeasuredAt: at("2026-03-01T10:00:00Z")},
	)
	record("other", domain.Measurement{ID: "low", Type: "pm25", Value: 5, MeasuredAt: at("2026-03-01T10:00:00Z")})
	e.catchUp(t)
	before := e.snapshot(t)
	hourlyBefore := e.hourly(t)

	// Retracting the day's maximum recomputes the day exactly.
	if _, err := app.RetractMeasurement.Handle(ctx, &commands.RetractMeasurement{Caller: admin, StationID: "st", MeasurementID: "high", Reason: "sensor fault", Actor: "ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	// Correcting the minimum moves it.
	if _, err := app.CorrectMeasurement.Handle(ctx, &commands.CorrectMeasurement{Caller: admin, StationID: "st", MeasurementID: "low", Value: 8, Reason: "recalibrated", Actor: "ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	e.catchUp(t)
	after := e.snapshot(t)
	sameDaily(t, after.daily, []dailyRow{
		{"other", "pm25", "2026-03-01", 1, 5, 5, 5},
		{"st", "no2", "2026-03-01", 1, 3, 3, 3},
		{"st", "pm25", "2026-03-01", 2, 18, 8, 10},
		{"st", "pm25", "2026-03-02", 1, 7, 7, 7},
	})
	sameDaily(t, after.daily, e.expectedDailyWithCorrections(t))
	if after.devs != before.devs {
		t.Error("a correction changed device metadata")
	}
	hourlyAfter := e.hourly(t)
	changed := map[string]bool{}
	for _, h := range hourlyBefore {
		changed[h.Device+h.Name+h.Hour] = true
	}
	for _, h := range hourlyAfter {
		delete(changed, h.Device+h.Name+h.Hour)
	}
	if len(changed) != 1 || !changed["stpm252026-03-01T12:00"] {
		t.Errorf("hourly buckets removed: %v, want only the retracted reading's hour", changed)
	}
	for _, h := range hourlyAfter {
		if h.Device == "st" && h.Name == "pm25" && h.Hour == "2026-03-01T10:00" && (h.Count != 2 || h.Min != 8 || h.Max != 10) {
			t.Errorf("corrected hour = %+v", h)
		}
		if h.Device == "other" && h != hourlyBefore[0] {
			t.Errorf("another station's hour changed: %+v", h)
		}
	}
	var q15 []float64
	rows, _ := e.pool.Query(ctx, `SELECT min FROM rm_buckets WHERE projection = 'q15' AND device_id = 'st' AND name = 'pm25' ORDER BY start`)
	for rows.Next() {
		var v float64
		_ = rows.Scan(&v)
		q15 = append(q15, v)
	}
	rows.Close()
	// 10:00 holds only the corrected reading (8), 10:15 the 10, 12:00 is gone, and the next day's 7.
	if fmt.Sprint(q15) != "[8 10 7]" {
		t.Fatalf("15-minute buckets' minima = %v, want [8 10 7]", q15)
	}
	var latest float64
	if err := e.pool.QueryRow(ctx, `SELECT value FROM rm_latest WHERE device_id = 'st' AND name = 'pm25'`).Scan(&latest); err != nil || latest != 7 {
		t.Fatalf("latest = %v (%v), want 7", latest, err)
	}

	// A correction of a measurement never recorded is refused.
	_, err := app.CorrectMeasurement.Handle(ctx, &commands.CorrectMeasurement{Caller: admin, StationID: "st", MeasurementID: "nope", Value: 1, Reason: "x", Actor: "y"})
	if !errors.Is(err, domain.ErrMeasurementNotFound) {
		t.Fatalf("unknown measurement: %v", err)
	}
	// Only operators correct.
	_, err = app.RetractMeasurement.Handle(ctx, &commands.RetractMeasurement{StationID: "st", MeasurementID: "mid", Reason: "x", Actor: "y"})
	if !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("anonymous retraction: %v", err)
	}
	// A rebuild from the log reaches the same tables.
	e.truncateReadModels(t)
	e.catchUp(t)
	sameSnapshot(t, e.snapshot(t), after)
}

// expectedDailyWithCorrections is the SQL oracle with the log's last
// correction or retraction of each measurement applied.
func (e env) expectedDailyWithCorrections(t *testing.T) []dailyRow {
	t.Helper()
	return e.dailyQuery(t, `
WITH rec AS (
    SELECT device_id, measurement_id AS id, type AS name, measured_at AS at, value AS v
    FROM measurement_items
), fix AS (
    SELECT DISTINCT ON (data->>'station_id', data->>'id') data->>'station_id' AS device_id, data->>'id' AS id,
           event_type, (data->>'value')::float8 AS v
    FROM events WHERE event_type IN ('MeasurementCorrected', 'MeasurementRetracted')
    ORDER BY data->>'station_id', data->>'id', tx_id DESC, position DESC
), m AS (
    SELECT rec.device_id, rec.name, rec.at, coalesce(fix.v, rec.v) AS v
    FROM rec LEFT JOIN fix USING (device_id, id)
    WHERE fix.event_type IS DISTINCT FROM 'MeasurementRetracted'
)
SELECT m.device_id, m.name, (m.at AT TIME ZONE coalesce(nullif(d.timezone, ''), 'UTC'))::date::text,
       count(*), sum(v), min(v), max(v)
FROM m JOIN rm_devices d USING (device_id)
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
}
