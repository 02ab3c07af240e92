package readmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/readapi"
)

const (
	pointsSQL = `
SELECT measured_at, value FROM rm_measurements
WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4
ORDER BY measured_at, measurement_id
LIMIT $5`

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

// asOfDailySQL recomputes daily aggregates as they stood at recorded time
// $5: measurements recorded by then, each with the value it had then
// (revisions keep every value a correction or retraction replaced).
const asOfDailySQL = `
WITH ids AS (
    SELECT measurement_id, measured_at, value AS live FROM rm_measurements
    WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4
      AND coalesce(recorded_at, '-infinity') <= $5
    UNION ALL
    SELECT measurement_id, measured_at, NULL FROM rm_measurement_revisions
    WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4 AND retracted
      AND coalesce(recorded_at, '-infinity') <= $5
), vals AS (
    SELECT ids.measured_at, coalesce(rev.value, ids.live) AS v
    FROM ids LEFT JOIN LATERAL (
        SELECT value FROM rm_measurement_revisions r
        WHERE r.device_id = $1 AND r.measurement_id = ids.measurement_id AND r.superseded_at > $5
        ORDER BY r.superseded_at, r.revision LIMIT 1
    ) rev ON true
)
SELECT (measured_at AT TIME ZONE $6)::date, count(v), sum(v), min(v), max(v)
FROM vals WHERE v IS NOT NULL GROUP BY 1 ORDER BY 1`

// Points returns up to q.Limit raw points in time order, and whether the
// range holds more.
func (q *Queries) Points(ctx context.Context, pq readapi.PointQuery) ([]readapi.Point, bool, error) {
	points := make([]readapi.Point, 0, 256)
	var p readapi.Point
	err := q.each(ctx, "read points", pointsSQL, []any{pq.StationID, pq.Type, pq.From, pq.To, pq.Limit + 1},
		[]any{&p.MeasuredAt, &p.Value}, func() error {
			p.MeasuredAt = p.MeasuredAt.UTC()
			points = append(points, p)
			return nil
		})
	if err != nil {
		return nil, false, err
	}
	if len(points) > pq.Limit {
		return points[:pq.Limit], true, nil
	}
	return points, false, nil
}

// Daily returns the daily aggregates of local days q.From to q.To.
func (q *Queries) Daily(ctx context.Context, dq readapi.DayQuery) ([]readapi.Day, error) {
	return q.days(ctx, "read daily aggregates", dailySQL, dq.DeviceID, dq.Name, dq.From, dq.To)
}

// DailyAsOf recomputes daily aggregates from raw rows and revisions as they
// stood at q.AsOf.
func (q *Queries) DailyAsOf(ctx context.Context, aq readapi.AsOfQuery) ([]readapi.Day, error) {
	return q.days(ctx, "recompute daily aggregates as of a time", asOfDailySQL, aq.StationID, aq.Type, aq.Start, aq.End, aq.AsOf, aq.Zone)
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
