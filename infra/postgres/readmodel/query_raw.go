package readmodel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

// Raw points and vehicle events are read from their chunks (see chunks.go):
// a chunk's span is at most an hour wide (SpanWidth), so the chunks that
// may hold an instant t start in (t - 1h, t]. Chunks of one span may
// overlap in time until maintenance merges them; readers merge them.
const maxSpan = time.Hour

const (
	// seriesChunksSQL reads a series' chunks that may hold points in
	// [$3, $4), span by span.
	seriesChunksSQL = `
SELECT span_start, data FROM rm_measurement_chunks
WHERE device_id = $1 AND type = $2 AND span_start > $3::timestamptz - interval '1 hour' AND span_start < $4 AND last_at >= $3
ORDER BY span_start, chunk_id`

	// latestVehicleSpanSQL finds the newest span of a vehicle's chunks at or
	// before $2 (and after $3).
	latestVehicleSpanSQL = `
SELECT max(span_start) FROM rm_vehicle_event_chunks
WHERE device_id = $1 AND span_start <= $2 AND span_start > $3::timestamptz - interval '1 hour'`
	vehicleSpanChunksSQL = `SELECT data FROM rm_vehicle_event_chunks WHERE device_id = $1 AND span_start = $2`

	// eventInstantsSQL finds when events with an eid's hash occurred.
	eventInstantsSQL = `SELECT DISTINCT occurred_at FROM rm_vehicle_event_ids WHERE eid_hash = $1`
	// chunksAtSQL reads a vehicle's chunks that may hold an instant.
	chunksAtSQL = `
SELECT data FROM rm_vehicle_event_chunks
WHERE device_id = $1 AND span_start <= $2 AND span_start > $2::timestamptz - interval '1 hour' AND first_at <= $2 AND last_at >= $2`
)

// errStop ends a walk over raw items early; it never leaves this package.
var errStop = errors.New("stop")

// seriesPoints calls fn with a station series' raw points in [from, to),
// by measured time then id; began, if set, once the query runs, before
// any point. fn may return errStop to end the walk.
func (q *Queries) seriesPoints(ctx context.Context, device, typ string, from, to time.Time, began func(), fn func(rawchunk.Point) error) error {
	rows, err := q.pool.Query(ctx, seriesChunksSQL, device, typ, from, to)
	if err != nil {
		return postgres.Classify(fmt.Errorf("read points of %s/%s: %w", device, typ, err))
	}
	defer rows.Close()
	if began != nil {
		began()
	}
	var (
		span    time.Time
		pending []rawchunk.Point
	)
	flush := func() error {
		sortPoints(pending)
		for _, p := range pending {
			if p.MeasuredAt.Before(from) || !p.MeasuredAt.Before(to) {
				continue
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		pending = pending[:0]
		return nil
	}
	for rows.Next() {
		var (
			s    time.Time
			data []byte
		)
		if err := rows.Scan(&s, &data); err != nil {
			return postgres.Classify(fmt.Errorf("read points of %s/%s: %w", device, typ, err))
		}
		if !s.Equal(span) {
			if err := flush(); err != nil {
				return stopped(err)
			}
			span = s
		}
		if err := q.codec.EachPoint(data, func(p rawchunk.Point) error {
			pending = append(pending, p)
			return nil
		}); err != nil {
			return fmt.Errorf("decode a chunk of %s/%s: %w", device, typ, err)
		}
	}
	if err := rows.Err(); err != nil {
		return postgres.Classify(fmt.Errorf("read points of %s/%s: %w", device, typ, err))
	}
	return stopped(flush())
}

func stopped(err error) error {
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// vehicleEventsBefore calls fn with a vehicle's raw events at or before
// upper and after lower, newest first (by time, then eid), span by span.
// fn may return errStop to end the walk.
func (q *Queries) vehicleEventsBefore(ctx context.Context, vid string, upper, lower time.Time, fn func(rawchunk.VehicleEvent) error) error {
	for {
		var span *time.Time
		if err := q.pool.QueryRow(ctx, latestVehicleSpanSQL, vid, upper, lower).Scan(&span); err != nil {
			return postgres.Classify(fmt.Errorf("read events of %s: %w", vid, err))
		}
		if span == nil {
			return nil
		}
		rows, err := q.pool.Query(ctx, vehicleSpanChunksSQL, vid, *span)
		if err != nil {
			return postgres.Classify(fmt.Errorf("read events of %s: %w", vid, err))
		}
		var (
			events []rawchunk.VehicleEvent
			data   []byte
		)
		_, err = pgx.ForEachRow(rows, []any{&data}, func() error {
			return q.codec.EachVehicleEvent(data, func(e rawchunk.VehicleEvent) error {
				events = append(events, e)
				return nil
			})
		})
		if err != nil {
			return postgres.Classify(fmt.Errorf("read events of %s: %w", vid, err))
		}
		slices.SortFunc(events, func(a, b rawchunk.VehicleEvent) int {
			return cmp.Or(b.OccurredAt.Compare(a.OccurredAt), cmp.Compare(b.EID, a.EID))
		})
		for _, e := range events {
			if e.OccurredAt.After(upper) {
				continue
			}
			if err := fn(e); err != nil {
				return stopped(err)
			}
		}
		upper = span.Add(-time.Nanosecond)
	}
}

// vehicleEventByID returns a vehicle's raw event of an eid, if kept.
func (q *Queries) vehicleEventByID(ctx context.Context, vid, eid string) (rawchunk.VehicleEvent, bool, error) {
	rows, err := q.pool.Query(ctx, eventInstantsSQL, EIDHash(vid, eid))
	if err != nil {
		return rawchunk.VehicleEvent{}, false, postgres.Classify(fmt.Errorf("find event %q of %s: %w", eid, vid, err))
	}
	instants, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return rawchunk.VehicleEvent{}, false, postgres.Classify(fmt.Errorf("find event %q of %s: %w", eid, vid, err))
	}
	for _, at := range instants {
		var (
			found rawchunk.VehicleEvent
			ok    bool
			data  []byte
		)
		err := q.each(ctx, "read event "+eid, chunksAtSQL, []any{vid, at}, []any{&data}, func() error {
			return q.codec.EachVehicleEvent(data, func(e rawchunk.VehicleEvent) error {
				if e.EID == eid && !ok {
					found, ok = e, true
				}
				return nil
			})
		})
		if err != nil || ok {
			return found, ok, err
		}
	}
	return rawchunk.VehicleEvent{}, false, nil
}

const rawRetainedFromSQL = `
SELECT coalesce(max(kept_from) FILTER (WHERE table_name = 'rm_measurement_chunks'), '-infinity'),
       coalesce(max(kept_from) FILTER (WHERE table_name = 'rm_vehicle_event_chunks'), '-infinity')
FROM rm_retention`

// RawRetainedFrom says from when the raw read models keep points and
// events, as maintenance last recorded it (zero: nothing dropped yet).
// The answer is reused for a few seconds: it moves once a partition.
func (q *Queries) RawRetainedFrom(ctx context.Context) (time.Time, time.Time, error) {
	q.retainedMu.Lock()
	defer q.retainedMu.Unlock()
	if !q.retainedAt.IsZero() && time.Since(q.retainedAt) < 5*time.Second {
		return q.retained[0], q.retained[1], nil
	}
	var stations, vehicles pgtype.Timestamptz
	if err := q.pool.QueryRow(ctx, rawRetainedFromSQL).Scan(&stations, &vehicles); err != nil {
		return time.Time{}, time.Time{}, postgres.Classify(fmt.Errorf("read raw retention: %w", err))
	}
	q.retained = [2]time.Time{finite(stations), finite(vehicles)}
	q.retainedAt = time.Now()
	return q.retained[0], q.retained[1], nil
}

// finite is a timestamp, or zero for -infinity.
func finite(t pgtype.Timestamptz) time.Time {
	if t.InfinityModifier != pgtype.Finite || !t.Valid {
		return time.Time{}
	}
	return t.Time
}
