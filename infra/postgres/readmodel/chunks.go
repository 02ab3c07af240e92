package readmodel

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
	"github.com/fleetpulse/fleetpulse/projections"
)

// Raw read models are stored as chunks (see rawchunk and migration 00009):
// the points of one series, or the events of one vehicle, whose time falls
// in one span. A projector batch adds a chunk per series and span it
// touches; maintenance merges the chunks of a span once it has closed.

// SpanWidth is the time one chunk covers: an hour, or a raw partition when
// those are narrower (a chunk never straddles two partitions).
func SpanWidth(r Retention) time.Duration {
	return min(time.Hour, PartitionWidth(r.WithDefaults().Raw))
}

// spanOf is the start of the span t falls in.
func spanOf(t time.Time, width time.Duration) time.Time { return t.Truncate(width).UTC() }

// EIDHash is the key rm_vehicle_event_ids finds a vehicle event by: FNV-1a
// of "<vid>/<eid>", as a signed 64-bit integer. Collisions only cost a
// look-up an extra chunk: the eid itself is matched in the chunk.
func EIDHash(vid, eid string) int64 {
	h := fnv.New64a()
	h.Write([]byte(vid))
	h.Write([]byte{'/'})
	h.Write([]byte(eid))
	return int64(h.Sum64())
}

// seriesSpan names the chunk a point goes to.
type seriesSpan struct {
	device, typ string
	span        time.Time
}

// measurementChunk is one chunk row to insert.
type measurementChunk struct {
	seriesSpan
	first, last time.Time
	points      int
	data        []byte
}

// measurementChunks groups rows by series and span and encodes each group,
// leaving out the points measured before floor (past the raw retention:
// they count in the aggregates, and are not kept raw).
func (s *Writer) measurementChunks(rows []projections.MeasurementRow, floor time.Time) ([]measurementChunk, error) {
	groups := map[seriesSpan][]rawchunk.Point{}
	for _, r := range rows {
		if r.MeasuredAt.Before(floor) {
			continue
		}
		k := seriesSpan{device: r.DeviceID, typ: r.Type, span: spanOf(r.MeasuredAt, s.span)}
		groups[k] = append(groups[k], rawchunk.Point{MeasuredAt: r.MeasuredAt, Value: r.Value, ID: r.MeasurementID, RecordedAt: r.RecordedAt})
	}
	keys := make([]seriesSpan, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareSeriesSpan)
	var out []measurementChunk
	for _, k := range keys {
		ps := groups[k]
		sortPoints(ps)
		for part := range slices.Chunk(ps, rawchunk.MaxPoints) {
			data, err := s.codec.AppendPoints(nil, part)
			if err != nil {
				return nil, fmt.Errorf("encode points of %s/%s: %w", k.device, k.typ, err)
			}
			out = append(out, measurementChunk{seriesSpan: k, first: part[0].MeasuredAt, last: part[len(part)-1].MeasuredAt, points: len(part), data: data})
		}
	}
	return out, nil
}

func compareSeriesSpan(a, b seriesSpan) int {
	return cmp.Or(cmp.Compare(a.device, b.device), cmp.Compare(a.typ, b.typ), a.span.Compare(b.span))
}

// sortPoints puts points in the order a chunk holds them: by instant, then id.
func sortPoints(ps []rawchunk.Point) {
	slices.SortFunc(ps, func(a, b rawchunk.Point) int {
		return cmp.Or(a.MeasuredAt.Compare(b.MeasuredAt), cmp.Compare(a.ID, b.ID))
	})
}

func (s *Writer) copyMeasurementChunks(ctx context.Context, tx pgx.Tx, chunks []measurementChunk) error {
	if len(chunks) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, s.table("rm_measurement_chunks"),
		[]string{"device_id", "type", "span_start", "first_at", "last_at", "points", "data"},
		pgx.CopyFromSlice(len(chunks), func(i int) ([]any, error) {
			c := chunks[i]
			return []any{c.device, c.typ, c.span, c.first, c.last, c.points, c.data}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy measurement chunks: %w", err)
	}
	return nil
}

// vehicleChunk is one chunk row of a vehicle's events to insert.
type vehicleChunk struct {
	device      string
	span        time.Time
	first, last time.Time
	events      int
	data        []byte
	ids         []int64 // EIDHash of each event
	at          []time.Time
}

// vehicleEvent turns a projected row into a chunk's event.
func vehicleEvent(r projections.VehicleEventRow) rawchunk.VehicleEvent {
	e := rawchunk.VehicleEvent{EID: r.EID, Type: r.Type, OccurredAt: r.OccurredAt, Readings: r.Readings, Data: r.Data, RecordedAt: r.RecordedAt}
	if r.Location != nil {
		e.Lat, e.Lon, e.HasLocation = r.Location.Lat, r.Location.Lon, true
	}
	return e
}

// vehicleChunks groups rows by vehicle and span, as measurementChunks does.
func (s *Writer) vehicleChunks(rows []projections.VehicleEventRow, floor time.Time) ([]vehicleChunk, error) {
	type key struct {
		device string
		span   time.Time
	}
	groups := map[key][]rawchunk.VehicleEvent{}
	for _, r := range rows {
		if r.OccurredAt.Before(floor) {
			continue
		}
		k := key{r.DeviceID, spanOf(r.OccurredAt, s.span)}
		groups[k] = append(groups[k], vehicleEvent(r))
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.device, b.device), a.span.Compare(b.span)) })
	var out []vehicleChunk
	for _, k := range keys {
		es := groups[k]
		sortEvents(es)
		for part := range slices.Chunk(es, rawchunk.MaxEvents) {
			data, err := s.codec.AppendVehicleEvents(nil, part)
			if err != nil {
				return nil, fmt.Errorf("encode events of %s: %w", k.device, err)
			}
			c := vehicleChunk{device: k.device, span: k.span, first: part[0].OccurredAt, last: part[len(part)-1].OccurredAt, events: len(part), data: data}
			for _, e := range part {
				c.ids = append(c.ids, EIDHash(k.device, e.EID))
				c.at = append(c.at, e.OccurredAt)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// sortEvents puts events in the order a chunk holds them: by instant, then eid.
func sortEvents(es []rawchunk.VehicleEvent) {
	slices.SortFunc(es, func(a, b rawchunk.VehicleEvent) int {
		return cmp.Or(a.OccurredAt.Compare(b.OccurredAt), cmp.Compare(a.EID, b.EID))
	})
}

func (s *Writer) copyVehicleChunks(ctx context.Context, tx pgx.Tx, chunks []vehicleChunk) error {
	if len(chunks) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, s.table("rm_vehicle_event_chunks"),
		[]string{"device_id", "span_start", "first_at", "last_at", "events", "data"},
		pgx.CopyFromSlice(len(chunks), func(i int) ([]any, error) {
			c := chunks[i]
			return []any{c.device, c.span, c.first, c.last, c.events, c.data}, nil
		})); err != nil {
		return fmt.Errorf("copy vehicle event chunks: %w", err)
	}
	var hashes []int64
	var ats []time.Time
	for _, c := range chunks {
		hashes = append(hashes, c.ids...)
		ats = append(ats, c.at...)
	}
	if _, err := tx.CopyFrom(ctx, s.table("rm_vehicle_event_ids"), []string{"eid_hash", "occurred_at"},
		pgx.CopyFromSlice(len(hashes), func(i int) ([]any, error) { return []any{hashes[i], ats[i]}, nil })); err != nil {
		return fmt.Errorf("copy vehicle event ids: %w", err)
	}
	return nil
}
