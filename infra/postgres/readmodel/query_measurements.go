package readmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

const (
	dailySQL = `
SELECT day, count, sum, min, max FROM rm_daily
WHERE device_id = $1 AND name = $2 AND day >= $3 AND day <= $4
ORDER BY day`

	hourlySQL = `
SELECT hour, count, sum, min, max FROM rm_hourly
WHERE device_id = $1 AND name = $2 AND hour >= $3 AND hour < $4
ORDER BY hour`

	bucketProjectionSQL = `SELECT width_seconds, zone FROM projection_buckets WHERE name = $1`
	bucketsSQL          = `
SELECT start, count, sum, min, max FROM rm_buckets
WHERE projection = $1 AND device_id = $2 AND name = $3 AND start >= $4 AND start < $5
ORDER BY start`
)

// revisionsSQL reads the values corrections and retractions replaced in a
// series over a range of measured time, each measurement's in the order
// they were replaced.
const revisionsSQL = `
SELECT measurement_id, measured_at, recorded_at, value, superseded_at, retracted FROM rm_measurement_revisions
WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4
ORDER BY measurement_id, superseded_at, revision`

// Points returns up to q.Limit raw points in time order, and whether the
// range holds more.
func (q *Queries) Points(ctx context.Context, pq readapi.PointQuery) ([]readapi.Point, bool, error) {
	points := make([]readapi.Point, 0, 256)
	more := false
	err := q.seriesPoints(ctx, pq.StationID, pq.Type, pq.From, pq.To, nil, func(p rawchunk.Point) error {
		if len(points) == pq.Limit {
			more = true
			return errStop
		}
		points = append(points, readapi.Point{MeasuredAt: p.MeasuredAt.UTC(), Value: p.Value})
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return points, more, nil
}

// Daily returns the daily aggregates of local days q.From to q.To.
func (q *Queries) Daily(ctx context.Context, dq readapi.DayQuery) ([]readapi.Day, error) {
	return q.days(ctx, "read daily aggregates", dailySQL, dq.DeviceID, dq.Name, dq.From, dq.To)
}

// DailyAsOf recomputes daily aggregates from raw points and revisions as
// they stood at q.AsOf: the measurements recorded by then (retracted ones
// too), each with the value it had then. A raw point recorded before
// recording times were kept counts as recorded at the beginning of time.
func (q *Queries) DailyAsOf(ctx context.Context, aq readapi.AsOfQuery) ([]readapi.Day, error) {
	zone, err := time.LoadLocation(aq.Zone)
	if err != nil {
		return nil, fmt.Errorf("daily as of: zone %q: %w", aq.Zone, err)
	}
	type revision struct {
		measuredAt, supersededAt time.Time
		recordedAt               *time.Time
		value                    float64
		retracted                bool
	}
	revisions := map[string][]revision{}
	var (
		id string
		r  revision
	)
	if err := q.each(ctx, "read revisions", revisionsSQL, []any{aq.StationID, aq.Type, aq.Start, aq.End},
		[]any{&id, &r.measuredAt, &r.recordedAt, &r.value, &r.supersededAt, &r.retracted}, func() error {
			revisions[id] = append(revisions[id], r)
			return nil
		}); err != nil {
		return nil, err
	}
	// valueAsOf is what a measurement's value was at AsOf: the one the
	// first revision after AsOf replaced, else live (ok false: none).
	valueAsOf := func(id string, live float64, haveLive bool) (float64, bool) {
		for _, r := range revisions[id] {
			if r.supersededAt.After(aq.AsOf) {
				return r.value, true
			}
		}
		return live, haveLive
	}
	recordedBy := func(at *time.Time) bool { return at == nil || !at.After(aq.AsOf) }
	aggs := map[time.Time]*projections.Aggregate{}
	add := func(measuredAt time.Time, v float64) {
		y, m, d := measuredAt.In(zone).Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		a := aggs[day]
		if a == nil {
			a = &projections.Aggregate{}
			aggs[day] = a
		}
		a.Add(v)
	}
	err = q.seriesPoints(ctx, aq.StationID, aq.Type, aq.Start, aq.End, nil, func(p rawchunk.Point) error {
		var rec *time.Time
		if !p.RecordedAt.IsZero() {
			rec = &p.RecordedAt
		}
		if !recordedBy(rec) {
			return nil
		}
		if v, ok := valueAsOf(p.ID, p.Value, true); ok {
			add(p.MeasuredAt, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Retracted measurements are in the revisions only.
	for id, rs := range revisions {
		last := rs[len(rs)-1]
		if !last.retracted || !recordedBy(last.recordedAt) {
			continue
		}
		if v, ok := valueAsOf(id, 0, false); ok {
			add(last.measuredAt, v)
		}
	}
	days := make([]readapi.Day, 0, len(aggs))
	for day, a := range aggs {
		days = append(days, readapi.Day{Day: day.Format(time.DateOnly), Count: a.Count, Sum: a.Sum, Min: a.Min, Max: a.Max, Avg: a.Sum / float64(a.Count)})
	}
	slices.SortFunc(days, func(a, b readapi.Day) int { return strings.Compare(a.Day, b.Day) })
	return days, nil
}

// days runs a query of (day, count, sum, min, max) rows.
func (q *Queries) days(ctx context.Context, what, sql string, args ...any) ([]readapi.Day, error) {
	days := make([]readapi.Day, 0, 366)
	var (
		date time.Time
		d    readapi.Day
	)
	err := q.each(ctx, what, sql, args, []any{&date, &d.Count, &d.Sum, &d.Min, &d.Max}, func() error {
		d.Day = date.Format(time.DateOnly)
		d.Avg = d.Sum / float64(d.Count)
		days = append(days, d)
		return nil
	})
	return days, err
}

// Hourly returns the hourly aggregates starting in [q.From, q.To).
func (q *Queries) Hourly(ctx context.Context, rq readapi.RangeQuery) ([]readapi.Hour, error) {
	hours := make([]readapi.Hour, 0, 64)
	var h readapi.Hour
	err := q.each(ctx, "read hourly aggregates", hourlySQL, []any{rq.DeviceID, rq.Name, rq.From, rq.To},
		[]any{&h.Hour, &h.Count, &h.Sum, &h.Min, &h.Max}, func() error {
			h.Hour = h.Hour.UTC()
			h.Avg = h.Sum / float64(h.Count)
			hours = append(hours, h)
			return nil
		})
	return hours, err
}

// BucketProjection returns an operator-defined bucket projection, or
// readapi.ErrProjectionNotFound.
func (q *Queries) BucketProjection(ctx context.Context, name string) (readapi.BucketProjection, error) {
	var p readapi.BucketProjection
	err := q.pool.QueryRow(ctx, bucketProjectionSQL, name).Scan(&p.WidthSeconds, &p.Zone)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("bucket projection %q: %w", name, readapi.ErrProjectionNotFound)
	}
	if err != nil {
		return p, postgres.Classify(fmt.Errorf("read bucket projection %q: %w", name, err))
	}
	return p, nil
}

// Buckets returns a bucket projection's buckets starting in [q.From, q.To).
func (q *Queries) Buckets(ctx context.Context, projection string, rq readapi.RangeQuery) ([]readapi.Bucket, error) {
	buckets := make([]readapi.Bucket, 0, 96)
	var b readapi.Bucket
	err := q.each(ctx, "read buckets", bucketsSQL, []any{projection, rq.DeviceID, rq.Name, rq.From, rq.To},
		[]any{&b.Start, &b.Count, &b.Sum, &b.Min, &b.Max}, func() error {
			b.Start = b.Start.UTC()
			b.Avg = b.Sum / float64(b.Count)
			buckets = append(buckets, b)
			return nil
		})
	return buckets, err
}
