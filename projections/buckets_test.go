package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

func TestBucketSpec_Bounds(t *testing.T) {
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	tests := []struct {
		name       string
		width      time.Duration
		zone       *time.Location
		at         string
		start, end string
	}{
		{"15 minutes in a half-hour zone", 15 * time.Minute, kolkata, "2026-01-01T04:44:59Z", "2026-01-01T04:30:00Z", "2026-01-01T04:45:00Z"},
		{"15 minutes on the hour", 15 * time.Minute, time.UTC, "2026-01-01T10:15:00Z", "2026-01-01T10:15:00Z", "2026-01-01T10:30:00Z"},
		{"first of two 02:xx hours at fall-back", time.Hour, warsaw, "2026-10-25T00:30:00Z", "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z"},
		{"second of two 02:xx hours at fall-back", 30 * time.Minute, warsaw, "2026-10-25T01:40:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"},
		{"6 hours from local midnight", 6 * time.Hour, warsaw, "2026-06-01T05:00:00Z", "2026-06-01T04:00:00Z", "2026-06-01T10:00:00Z"},
		{"a day in another zone", 24 * time.Hour, kolkata, "2026-06-01T20:00:00Z", "2026-06-01T18:30:00Z", "2026-06-02T18:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := projections.BucketSpec{Name: "b", Width: tt.width}
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			start, end := spec.Bounds(at(tt.at), tt.zone)
			if !start.Equal(at(tt.start)) || !end.Equal(at(tt.end)) {
				t.Fatalf("bounds = [%s, %s), want [%s, %s)", start, end, tt.start, tt.end)
			}
		})
	}
	for _, bad := range []time.Duration{30 * time.Second, 7 * time.Minute, 90 * time.Minute, 48 * time.Hour} {
		if (projections.BucketSpec{Name: "b", Width: bad}).Validate() == nil {
			t.Errorf("width %s accepted", bad)
		}
	}
}

// TestBucketsOf_GivesTheLocalDayHourAndEverySpecOfAnInstant checks the one
// computation new data and corrections both bucket by.
func TestBucketsOf_GivesTheLocalDayHourAndEverySpecOfAnInstant(t *testing.T) {
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	q15 := projections.BucketSpec{Name: "q15", Width: 15 * time.Minute}
	utcDays := projections.BucketSpec{Name: "utc_days", Width: 24 * time.Hour, Zone: time.UTC}
	tests := []struct {
		name               string
		zone               *time.Location
		at                 string
		date               string // the local date, as midnight UTC
		dayStart, dayEnd   string
		hourStart, hourEnd string
		q15Start, q15End   string
		utcStart, utcEnd   string
	}{
		{"a 23-hour spring-forward day", warsaw, "2026-03-29T10:20:00Z", "2026-03-29T00:00:00Z",
			"2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", "2026-03-29T10:00:00Z", "2026-03-29T11:00:00Z",
			"2026-03-29T10:15:00Z", "2026-03-29T10:30:00Z", "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"},
		{"just after local midnight in a half-hour zone, a day behind UTC days", kolkata, "2026-06-01T19:10:00Z", "2026-06-02T00:00:00Z",
			"2026-06-01T18:30:00Z", "2026-06-02T18:30:00Z", "2026-06-01T18:30:00Z", "2026-06-01T19:30:00Z",
			"2026-06-01T19:00:00Z", "2026-06-01T19:15:00Z", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"},
		{"the second 02:xx hour of a 25-hour fall-back day", warsaw, "2026-10-25T01:40:00Z", "2026-10-25T00:00:00Z",
			"2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z",
			"2026-10-25T01:30:00Z", "2026-10-25T01:45:00Z", "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := projections.BucketsOf(at(tt.at), tt.zone, []projections.BucketSpec{q15, utcDays})
			span := func(what string, got projections.Span, start, end string) {
				t.Helper()
				if !got.Start.Equal(at(start)) || !got.End.Equal(at(end)) {
					t.Errorf("%s = [%s, %s), want [%s, %s)", what, got.Start.UTC(), got.End.UTC(), start, end)
				}
			}
			if !b.Day.Date.Equal(at(tt.date)) || b.Day.Date.Location() != time.UTC {
				t.Errorf("day date = %s, want %s", b.Day.Date, tt.date)
			}
			span("day", b.Day.Span, tt.dayStart, tt.dayEnd)
			span("hour", b.Hour, tt.hourStart, tt.hourEnd)
			if len(b.Specs) != 2 || b.Specs[0].Spec != "q15" || b.Specs[1].Spec != "utc_days" {
				t.Fatalf("spec buckets = %+v, want q15 then utc_days", b.Specs)
			}
			span("q15", b.Specs[0].Span, tt.q15Start, tt.q15End)
			span("utc_days", b.Specs[1].Span, tt.utcStart, tt.utcEnd)
		})
	}
	if b := projections.BucketsOf(at("2026-01-01T00:00:00Z"), time.UTC, nil); b.Specs != nil {
		t.Errorf("no specs: spec buckets %+v", b.Specs)
	}
}

// TestBucketProjection_AddedLaterFillsItselfFromHistory adds a 15-minute
// projection after data exists: a rebuild fills it from the whole log, and
// the live projector keeps it up to date afterwards, with no change to ingest.
func TestBucketProjection_AddedLaterFillsItselfFromHistory(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "st-0", "Asia/Kolkata")
	e.registerStation(t, "st-1", "Europe/Warsaw")
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 20; i++ {
		e.record(t, fmt.Sprintf("st-%d", i%2), randomMeasurements(rng, 50)...)
	}
	e.catchUp(t)

	ctx := context.Background()
	if err := readmodel.AddBucketProjection(ctx, e.pool, projections.BucketSpec{Name: "q15", Width: 15 * time.Minute}, ""); err != nil {
		t.Fatal(err)
	}
	if err := readmodel.AddBucketProjection(ctx, e.pool, projections.BucketSpec{Name: "utc_days", Width: 24 * time.Hour}, "UTC"); err != nil {
		t.Fatal(err)
	}
	shadow, err := readmodel.CreateShadow(ctx, e.pool, keepAll)
	if err != nil {
		t.Fatal(err)
	}
	defer shadow.Close()
	if _, err := projections.Rebuild(ctx, e.store, noWait{}, shadow, e.head(t), quiet, projections.Config{}); err != nil {
		t.Fatal(err)
	}
	// New data after the projection exists goes through the live projector.
	for i := 0; i < 6; i++ {
		e.record(t, fmt.Sprintf("st-%d", i%2), randomMeasurements(rng, 50)...)
	}
	e.catchUp(t)

	for _, tc := range []struct{ spec, bucketSQL string }{
		{"q15", `date_bin('15 minutes', m.at AT TIME ZONE d.timezone, '2000-01-01') AT TIME ZONE d.timezone`},
		{"utc_days", `date_trunc('day', m.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`},
	} {
		got := e.dailyQuery(t, `SELECT device_id, name, to_char(start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), count, sum, min, max
FROM rm_buckets WHERE projection = '`+tc.spec+`' ORDER BY 1, 2, 3`)
		want := e.dailyQuery(t, `
WITH m AS (
    SELECT device_id, type AS name, measured_at AS at, value AS v FROM measurement_items
)
SELECT m.device_id, m.name, to_char((`+tc.bucketSQL+`) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), count(*), sum(v), min(v), max(v)
FROM m JOIN rm_devices d USING (device_id) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
		if len(got) < 20 {
			t.Fatalf("%s: only %d buckets", tc.spec, len(got))
		}
		sameDaily(t, got, want)
	}

	if err := readmodel.RemoveBucketProjection(ctx, e.pool, "q15"); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM rm_buckets WHERE projection = 'q15'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("rows left after removal: %d %v", left, err)
	}
}
