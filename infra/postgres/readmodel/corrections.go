package readmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/projections"
)

const (
	// Corrections change one raw row, then recompute the buckets and the
	// latest value it touches from the raw rows: exact, whatever the old
	// value was (min and max cannot be un-added).
	// Both return the row's value before the change, kept as a revision
	// for "as of" queries.
	correctRawSQL = `
UPDATE rm_measurements AS m SET value = $3
FROM (SELECT value FROM rm_measurements WHERE device_id = $1 AND measurement_id = $2 FOR UPDATE) AS old
WHERE m.device_id = $1 AND m.measurement_id = $2
RETURNING m.type, m.measured_at, m.recorded_at, old.value`
	retractRawSQL     = `DELETE FROM rm_measurements WHERE device_id = $1 AND measurement_id = $2 RETURNING type, measured_at, recorded_at, value`
	insertRevisionSQL = `
INSERT INTO rm_measurement_revisions (device_id, measurement_id, type, measured_at, recorded_at, value, superseded_at, retracted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	bucketOfRawSQL = `
SELECT count(*), coalesce(sum(value), 0), coalesce(min(value), 0), coalesce(max(value), 0)
FROM rm_measurements WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4`
	setDailySQL = `
INSERT INTO rm_daily (device_id, name, day, count, sum, min, max) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (device_id, name, day) DO UPDATE SET count = $4, sum = $5, min = $6, max = $7`
	deleteDailySQL = `DELETE FROM rm_daily WHERE device_id = $1 AND name = $2 AND day = $3`
	setHourlySQL   = `
INSERT INTO rm_hourly (device_id, name, hour, count, sum, min, max) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (device_id, name, hour) DO UPDATE SET count = $4, sum = $5, min = $6, max = $7`
	deleteHourlySQL    = `DELETE FROM rm_hourly WHERE device_id = $1 AND name = $2 AND hour = $3`
	recomputeLatestSQL = `
WITH top AS (
    SELECT value, measured_at FROM rm_measurements
    WHERE device_id = $1 AND type = $2 ORDER BY measured_at DESC, measurement_id DESC LIMIT 1
), gone AS (
    DELETE FROM rm_latest WHERE device_id = $1 AND name = $2 AND NOT EXISTS (SELECT 1 FROM top)
)
INSERT INTO rm_latest (device_id, name, value, measured_at) SELECT $1, $2, value, measured_at FROM top
ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value, measured_at = excluded.measured_at`
	setBucketSQL = `
INSERT INTO rm_buckets (projection, device_id, name, start, count, sum, min, max) VALUES ($8, $1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (projection, device_id, name, start) DO UPDATE SET count = $4, sum = $5, min = $6, max = $7`
	deleteBucketSQL = `DELETE FROM rm_buckets WHERE device_id = $1 AND name = $2 AND start = $3 AND projection = $4`
)

// applyCorrection changes or removes one raw measurement and recomputes the
// buckets it lands in (projections.BucketsOf: its day, its hour, each
// operator-defined bucket) and its series' latest value from the raw rows.
// A correction of a measurement that is not (or no longer) there changes
// nothing.
func (s *Writer) applyCorrection(ctx context.Context, tx pgx.Tx, c projections.Correction) error {
	var (
		typ      string
		at       time.Time
		recorded *time.Time
		before   float64
		err      error
	)
	if c.Value != nil {
		err = tx.QueryRow(ctx, s.sql(correctRawSQL), c.DeviceID, c.MeasurementID, *c.Value).Scan(&typ, &at, &recorded, &before)
	} else {
		err = tx.QueryRow(ctx, s.sql(retractRawSQL), c.DeviceID, c.MeasurementID).Scan(&typ, &at, &recorded, &before)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("correct measurement %s/%s: %w", c.DeviceID, c.MeasurementID, err)
	}
	if _, err := tx.Exec(ctx, s.sql(insertRevisionSQL), c.DeviceID, c.MeasurementID, typ, at, recorded, before, c.RecordedAt, c.Value == nil); err != nil {
		return fmt.Errorf("keep the replaced value of %s/%s: %w", c.DeviceID, c.MeasurementID, err)
	}
	b := projections.BucketsOf(at, c.Zone, c.Specs)
	type bucket struct {
		projections.Span
		key               any
		setSQL, deleteSQL string
		extra             []any // the projection of an operator-defined bucket
	}
	buckets := []bucket{
		{b.Day.Span, b.Day.Date, setDailySQL, deleteDailySQL, nil},
		{b.Hour, b.Hour.Start, setHourlySQL, deleteHourlySQL, nil},
	}
	for _, sb := range b.Specs {
		buckets = append(buckets, bucket{sb.Span, sb.Start, setBucketSQL, deleteBucketSQL, []any{sb.Spec}})
	}
	for _, bk := range buckets {
		var a projections.Aggregate
		if err := tx.QueryRow(ctx, s.sql(bucketOfRawSQL), c.DeviceID, typ, bk.Start, bk.End).Scan(&a.Count, &a.Sum, &a.Min, &a.Max); err != nil {
			return fmt.Errorf("recompute bucket: %w", err)
		}
		if a.Count == 0 {
			_, err = tx.Exec(ctx, s.sql(bk.deleteSQL), append([]any{c.DeviceID, typ, bk.key}, bk.extra...)...)
		} else {
			_, err = tx.Exec(ctx, s.sql(bk.setSQL), append([]any{c.DeviceID, typ, bk.key, a.Count, a.Sum, a.Min, a.Max}, bk.extra...)...)
		}
		if err != nil {
			return fmt.Errorf("recompute bucket: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, s.sql(recomputeLatestSQL), c.DeviceID, typ); err != nil {
		return fmt.Errorf("recompute latest: %w", err)
	}
	return nil
}
