package readmodel

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
	"github.com/fleetpulse/fleetpulse/projections"
)

const (
	insertRevisionSQL = `
INSERT INTO rm_measurement_revisions (device_id, measurement_id, type, measured_at, recorded_at, value, superseded_at, retracted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	// The chunks a correction's measurement may be in: the span its
	// measured time falls in, or (corrections recorded before they named
	// the measurement) every chunk of the station.
	chunksOfSpanSQL = `
SELECT chunk_id, type, span_start, data FROM rm_measurement_chunks
WHERE device_id = $1 AND type = $2 AND span_start = $3 ORDER BY chunk_id FOR UPDATE`
	chunksOfStationSQL = `
SELECT chunk_id, type, span_start, data FROM rm_measurement_chunks
WHERE device_id = $1 ORDER BY span_start, chunk_id FOR UPDATE`
	updateChunkSQL = `
UPDATE rm_measurement_chunks SET data = $5, points = $6, first_at = $7, last_at = $8
WHERE device_id = $1 AND type = $2 AND span_start = $3 AND chunk_id = $4`
	deleteChunkSQL = `
DELETE FROM rm_measurement_chunks WHERE device_id = $1 AND type = $2 AND span_start = $3 AND chunk_id = $4`
	// chunksBetweenSQL reads a series' chunks whose span starts in [$3, $4).
	chunksBetweenSQL = `
SELECT data FROM rm_measurement_chunks
WHERE device_id = $1 AND type = $2 AND span_start >= $3 AND span_start < $4`
	// latestChunksSQL reads the chunks of a series' newest span.
	latestChunksSQL = `
SELECT data FROM rm_measurement_chunks
WHERE device_id = $1 AND type = $2
  AND span_start = (SELECT max(span_start) FROM rm_measurement_chunks WHERE device_id = $1 AND type = $2)`
	setLatestSQL = `
INSERT INTO rm_latest (device_id, name, value, measured_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value, measured_at = excluded.measured_at`
	deleteLatestSQL = `DELETE FROM rm_latest WHERE device_id = $1 AND name = $2`
	setDailySQL     = `
INSERT INTO rm_daily (device_id, name, day, count, sum, min, max) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (device_id, name, day) DO UPDATE SET count = $4, sum = $5, min = $6, max = $7`
	deleteDailySQL = `DELETE FROM rm_daily WHERE device_id = $1 AND name = $2 AND day = $3`
	setHourlySQL   = `
INSERT INTO rm_hourly (device_id, name, hour, count, sum, min, max) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (device_id, name, hour) DO UPDATE SET count = $4, sum = $5, min = $6, max = $7`
	deleteHourlySQL = `DELETE FROM rm_hourly WHERE device_id = $1 AND name = $2 AND hour = $3`
	setBucketSQL    = `
INSERT INTO rm_buckets (projection, device_id, name, start, count, sum, min, max) VALUES ($8, $1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (projection, device_id, name, start) DO UPDATE SET count = $4, sum = $5, min = $6, max = $7`
	deleteBucketSQL = `DELETE FROM rm_buckets WHERE device_id = $1 AND name = $2 AND start = $3 AND projection = $4`
)

// foundPoint is a raw measurement found in its chunk.
type foundPoint struct {
	chunkID int64
	typ     string
	span    time.Time
	points  []rawchunk.Point
	i       int // the point's index in points
}

// findPoint finds a station's raw measurement by id, locking its chunk.
func (s *Writer) findPoint(ctx context.Context, tx pgx.Tx, c projections.Correction) (*foundPoint, error) {
	q, args := s.sql(chunksOfStationSQL), []any{c.DeviceID}
	if c.Measured != nil {
		q, args = s.sql(chunksOfSpanSQL), []any{c.DeviceID, c.Measured.Type, spanOf(c.Measured.At, s.span)}
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var (
		found *foundPoint
		f     foundPoint
		data  []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&f.chunkID, &f.typ, &f.span, &data}, func() error {
		if found != nil {
			return nil
		}
		ps, err := s.codec.Points(data)
		if err != nil {
			return fmt.Errorf("chunk %d of %s: %w", f.chunkID, c.DeviceID, err)
		}
		for i, p := range ps {
			if p.ID == c.MeasurementID {
				hit := f
				hit.points, hit.i = ps, i
				found = &hit
				return nil
			}
		}
		return nil
	})
	return found, err
}

// applyCorrection changes or removes one raw measurement and recomputes the
// buckets it lands in (projections.BucketsOf: its day, its hour, each
// operator-defined bucket) and its series' latest value from the raw
// points: exact, whatever the old value was (min and max cannot be
// un-added). The value it replaced is kept as a revision for "as of"
// queries. A correction of a measurement that is not (or no longer) there
// changes nothing; a bucket that began before the raw retention (rawFloor)
// is left as it is, since its raw points are no longer all there (the
// command side refuses such corrections: see domain.TelemetryPolicy).
func (s *Writer) applyCorrection(ctx context.Context, tx pgx.Tx, c projections.Correction, rawFloor time.Time) error {
	f, err := s.findPoint(ctx, tx, c)
	if err != nil {
		return fmt.Errorf("find measurement %s/%s: %w", c.DeviceID, c.MeasurementID, err)
	}
	if f == nil {
		return nil
	}
	p := f.points[f.i]
	if c.Value != nil {
		f.points[f.i].Value = *c.Value
	} else {
		f.points = slices.Delete(f.points, f.i, f.i+1)
	}
	if len(f.points) == 0 {
		_, err = tx.Exec(ctx, s.sql(deleteChunkSQL), c.DeviceID, f.typ, f.span, f.chunkID)
	} else {
		var data []byte
		if data, err = s.codec.AppendPoints(nil, f.points); err == nil {
			_, err = tx.Exec(ctx, s.sql(updateChunkSQL), c.DeviceID, f.typ, f.span, f.chunkID, data, len(f.points),
				f.points[0].MeasuredAt, f.points[len(f.points)-1].MeasuredAt)
		}
	}
	if err != nil {
		return fmt.Errorf("correct measurement %s/%s: %w", c.DeviceID, c.MeasurementID, err)
	}
	var recorded *time.Time
	if !p.RecordedAt.IsZero() {
		recorded = &p.RecordedAt
	}
	if _, err := tx.Exec(ctx, s.sql(insertRevisionSQL), c.DeviceID, c.MeasurementID, f.typ, p.MeasuredAt, recorded, p.Value, c.RecordedAt, c.Value == nil); err != nil {
		return fmt.Errorf("keep the replaced value of %s/%s: %w", c.DeviceID, c.MeasurementID, err)
	}
	b := projections.BucketsOf(p.MeasuredAt, c.Zone, c.Specs)
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
		if bk.Start.Before(rawFloor) {
			continue
		}
		a, err := s.aggregateRaw(ctx, tx, c.DeviceID, f.typ, bk.Start, bk.End)
		if err != nil {
			return fmt.Errorf("recompute bucket: %w", err)
		}
		if a.Count == 0 {
			_, err = tx.Exec(ctx, s.sql(bk.deleteSQL), append([]any{c.DeviceID, f.typ, bk.key}, bk.extra...)...)
		} else {
			_, err = tx.Exec(ctx, s.sql(bk.setSQL), append([]any{c.DeviceID, f.typ, bk.key, a.Count, a.Sum, a.Min, a.Max}, bk.extra...)...)
		}
		if err != nil {
			return fmt.Errorf("recompute bucket: %w", err)
		}
	}
	if err := s.recomputeLatest(ctx, tx, c.DeviceID, f.typ); err != nil {
		return fmt.Errorf("recompute latest: %w", err)
	}
	return nil
}

// aggregateRaw is count, sum, min and max of a series' raw points in
// [from, to).
func (s *Writer) aggregateRaw(ctx context.Context, tx pgx.Tx, device, typ string, from, to time.Time) (projections.Aggregate, error) {
	var a projections.Aggregate
	rows, err := tx.Query(ctx, s.sql(chunksBetweenSQL), device, typ, spanOf(from, s.span), to)
	if err != nil {
		return a, err
	}
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&data}, func() error {
		return s.codec.EachPoint(data, func(p rawchunk.Point) error {
			if !p.MeasuredAt.Before(from) && p.MeasuredAt.Before(to) {
				a.Add(p.Value)
			}
			return nil
		})
	})
	return a, err
}

// recomputeLatest sets a series' latest value from its newest raw point
// (of two at the same instant, the greater id), or removes it when none is
// left.
func (s *Writer) recomputeLatest(ctx context.Context, tx pgx.Tx, device, typ string) error {
	rows, err := tx.Query(ctx, s.sql(latestChunksSQL), device, typ)
	if err != nil {
		return err
	}
	var (
		top  *rawchunk.Point
		data []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&data}, func() error {
		return s.codec.EachPoint(data, func(p rawchunk.Point) error {
			if top == nil || p.MeasuredAt.After(top.MeasuredAt) || (p.MeasuredAt.Equal(top.MeasuredAt) && p.ID > top.ID) {
				top = &p
			}
			return nil
		})
	}); err != nil {
		return err
	}
	if top == nil {
		_, err = tx.Exec(ctx, s.sql(deleteLatestSQL), device, typ)
		return err
	}
	_, err = tx.Exec(ctx, s.sql(setLatestSQL), device, typ, top.Value, top.MeasuredAt)
	return err
}
