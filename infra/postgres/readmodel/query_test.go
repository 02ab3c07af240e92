package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

var queryNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// seedStation writes a station with five raw pm25 points, one a minute
// before queryNow, as projectors would.
func seedStation(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for _, s := range []string{
		`INSERT INTO rm_devices (device_id, kind, name, lat, lon, timezone, version, registered_at, updated_at)
			VALUES ('st', 'station', 'St', 1, 2, 'Europe/Warsaw', 0, $1, $1)`,
	} {
		if _, err := pool.Exec(context.Background(), s, queryNow); err != nil {
			t.Fatalf("seed: %v\n%s", err, s)
		}
	}
	w, err := readmodel.NewWriter(pool, readmodel.WriterConfig{Retention: readmodel.Retention{Raw: readmodel.KeepForever}})
	if err != nil {
		t.Fatal(err)
	}
	var ms []projections.MeasurementRow
	for m := 1; m <= 5; m++ {
		ms = append(ms, projections.MeasurementRow{DeviceID: "st", Type: "pm25", MeasuredAt: queryNow.Add(-time.Duration(m) * time.Minute),
			Value: float64(m), MeasurementID: fmt.Sprintf("m%d", m)})
	}
	if err := w.AddRaw(context.Background(), ms, nil); err != nil {
		t.Fatal(err)
	}
}

func TestQueries_WhatDoesNotExistIsNotFound(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	seedStation(t, pool)
	q := mustQueries(t, pool)
	ctx := context.Background()

	if d, err := q.Device(ctx, "st"); err != nil || d.Kind != readapi.Station || d.Location == nil || d.TimeZone != "Europe/Warsaw" {
		t.Fatalf("Device(st) = %+v, %v", d, err)
	}
	_, err := q.Device(ctx, "nope")
	assertIs(t, "Device", err, domain.ErrDeviceNotFound)
	_, err = q.DeviceStatus(ctx, "nope")
	assertIs(t, "DeviceStatus", err, domain.ErrDeviceNotFound)
	_, err = q.VehicleEvent(ctx, "st", "e-1")
	assertIs(t, "VehicleEvent", err, readapi.ErrEventNotFound)
	_, err = q.BucketProjection(ctx, "q15")
	assertIs(t, "BucketProjection", err, readapi.ErrProjectionNotFound)
}

func TestQueries_PointsSayWhetherTheRangeHoldsMore(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	seedStation(t, pool)
	q := mustQueries(t, pool)
	for _, tt := range []struct {
		limit    int
		wantN    int
		wantMore bool
	}{{3, 3, true}, {5, 5, false}, {10, 5, false}} {
		points, more, err := q.Points(context.Background(), readapi.PointQuery{StationID: "st", Type: "pm25",
			From: queryNow.Add(-time.Hour), To: queryNow, Limit: tt.limit})
		if err != nil || len(points) != tt.wantN || more != tt.wantMore {
			t.Fatalf("limit %d: %d points, more %v, %v; want %d, %v", tt.limit, len(points), more, err, tt.wantN, tt.wantMore)
		}
		if !points[0].MeasuredAt.Equal(queryNow.Add(-5*time.Minute)) || points[0].MeasuredAt.Location() != time.UTC {
			t.Fatalf("limit %d: first point %v, want the oldest, in UTC", tt.limit, points[0].MeasuredAt)
		}
	}
}

// TestQueries_ExportBeginsOnceTheQueryRunsThenStreamsEachRow checks the
// streaming contract the read API builds its headers on: begin before the
// first row, rows in time order, and a write error stops the stream.
func TestQueries_ExportBeginsOnceTheQueryRunsThenStreamsEachRow(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	seedStation(t, pool)
	q := mustQueries(t, pool)
	eq := readapi.ExportQuery{StationID: "st", Type: "pm25", Resolution: readapi.Raw, From: queryNow.Add(-time.Hour), To: queryNow}

	var events []string
	err := q.Export(context.Background(), eq, func() { events = append(events, "begin") }, func(r readapi.ExportRow) error {
		events = append(events, r.At.UTC().Format("15:04"))
		return nil
	})
	want := []string{"begin", "11:55", "11:56", "11:57", "11:58", "11:59"}
	if err != nil || !slices.Equal(events, want) {
		t.Fatalf("export: %v, %v; want %v", events, err, want)
	}

	stop := errors.New("client went away")
	rows := 0
	err = q.Export(context.Background(), eq, func() {}, func(readapi.ExportRow) error {
		rows++
		return stop
	})
	if !errors.Is(err, stop) || rows != 1 {
		t.Fatalf("a failing write: %d rows written, %v; want 1 row and the write's error", rows, err)
	}
}

// TestQueries_UnreachableDatabaseIsUnavailable: every question answers
// domain.ErrUnavailable (a 503 to the read API's callers) when PostgreSQL
// cannot be reached, and an export never begins.
func TestQueries_UnreachableDatabaseIsUnavailable(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	q := mustQueries(t, pool)
	ctx := context.Background()
	rq := readapi.RangeQuery{DeviceID: "st", Name: "pm25", From: queryNow.Add(-time.Hour), To: queryNow}
	begun := false
	for name, call := range map[string]func() error{
		"Device":       func() error { _, err := q.Device(ctx, "st"); return err },
		"Devices":      func() error { _, err := q.Devices(ctx, readapi.Station, "", 10); return err },
		"Latest":       func() error { _, err := q.Latest(ctx, "st"); return err },
		"History":      func() error { _, err := q.History(ctx, "st", readapi.HistoryCursor{}, 10); return err },
		"DeviceStatus": func() error { _, err := q.DeviceStatus(ctx, "st"); return err },
		"Points": func() error {
			_, _, err := q.Points(ctx, readapi.PointQuery{StationID: "st", Type: "pm25", Limit: 1})
			return err
		},
		"Daily": func() error { _, err := q.Daily(ctx, readapi.DayQuery{DeviceID: "st", Name: "pm25"}); return err },
		"DailyAsOf": func() error {
			_, err := q.DailyAsOf(ctx, readapi.AsOfQuery{StationID: "st", Type: "pm25", Zone: "UTC"})
			return err
		},
		"Hourly":           func() error { _, err := q.Hourly(ctx, rq); return err },
		"BucketProjection": func() error { _, err := q.BucketProjection(ctx, "q15"); return err },
		"Buckets":          func() error { _, err := q.Buckets(ctx, "q15", rq); return err },
		"VehicleEvents": func() error {
			_, err := q.VehicleEvents(ctx, readapi.VehicleEventQuery{VehicleID: "v", Limit: 1})
			return err
		},
		"VehicleEvent": func() error { _, err := q.VehicleEvent(ctx, "v", "e"); return err },
		"Alerts":       func() error { _, err := q.Alerts(ctx, readapi.AlertQuery{Limit: 1}); return err },
		"Export": func() error {
			return q.Export(ctx, readapi.ExportQuery{StationID: "st", Type: "pm25", Resolution: readapi.Daily},
				func() { begun = true }, func(readapi.ExportRow) error { return nil })
		},
	} {
		assertIs(t, name, call(), domain.ErrUnavailable)
	}
	if begun {
		t.Error("an export began although its query never ran")
	}
	if err := q.Ping(ctx); err == nil {
		t.Error("Ping of an unreachable database succeeded")
	}
}

func assertIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want an error wrapping %q", what, err, want)
	}
}

func mustQueries(t testing.TB, pool *pgxpool.Pool) *readmodel.Queries {
	t.Helper()
	q, err := readmodel.NewQueries(pool)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
