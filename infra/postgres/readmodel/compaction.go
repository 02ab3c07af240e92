package readmodel

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

// Live ingest writes a chunk per series for every projector batch: one or
// two points each for a station reading once a minute. Once a span has
// closed, its chunks are merged into one, where the points compress well
// (see rawchunk). A span is merged once; points that come late add a chunk
// that the next round merges again.
const (
	// mergeSettle is how long after its end a span is left alone, so
	// points still on their way land before it is merged.
	mergeSettle = time.Minute
	// mergeLookback bounds how far back spans are looked at for merging:
	// a round reads recent partitions only.
	mergeLookback = 48 * time.Hour
	// mergeGroups bounds the spans merged in one transaction: a writing
	// transaction holds back what log readers may read (the ordering rule
	// of the event store), so it must be short.
	mergeGroups = 50
)

// mergeKind is what merging needs to know of a chunk table.
type mergeKind struct {
	table    string
	series   []string // the columns naming a series, with span_start
	groupSQL string   // spans holding more than one chunk in [$1, $2)
	lockSQL  string   // the chunks of one span, locked
	merge    func(c *rawchunk.Codec, chunks [][]byte) ([][]byte, []chunkBounds, error)
}

// chunkBounds is what a merged chunk row says of its items.
type chunkBounds struct {
	first, last time.Time
	n           int
}

var mergeKinds = []mergeKind{
	{
		table:  "rm_measurement_chunks",
		series: []string{"device_id", "type"},
		groupSQL: `
SELECT device_id, type, span_start FROM rm_measurement_chunks
WHERE span_start >= $1 AND span_start < $2
GROUP BY 1, 2, 3 HAVING count(*) > 1 ORDER BY 1, 2, 3 LIMIT $3`,
		lockSQL: `
SELECT chunk_id, data FROM rm_measurement_chunks
WHERE device_id = $1 AND type = $2 AND span_start = $3 ORDER BY chunk_id FOR UPDATE`,
		merge: mergePoints,
	},
	{
		table:  "rm_vehicle_event_chunks",
		series: []string{"device_id"},
		groupSQL: `
SELECT device_id, span_start FROM rm_vehicle_event_chunks
WHERE span_start >= $1 AND span_start < $2
GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2 LIMIT $3`,
		lockSQL: `
SELECT chunk_id, data FROM rm_vehicle_event_chunks
WHERE device_id = $1 AND span_start = $2 ORDER BY chunk_id FOR UPDATE`,
		merge: mergeVehicleEvents,
	},
}

func mergePoints(c *rawchunk.Codec, chunks [][]byte) ([][]byte, []chunkBounds, error) {
	var all []rawchunk.Point
	for _, data := range chunks {
		ps, err := c.Points(data)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, ps...)
	}
	sortPoints(all)
	var out [][]byte
	var bounds []chunkBounds
	for part := range slices.Chunk(all, rawchunk.MaxPoints) {
		data, err := c.AppendPoints(nil, part)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, data)
		bounds = append(bounds, chunkBounds{part[0].MeasuredAt, part[len(part)-1].MeasuredAt, len(part)})
	}
	return out, bounds, nil
}

func mergeVehicleEvents(c *rawchunk.Codec, chunks [][]byte) ([][]byte, []chunkBounds, error) {
	var all []rawchunk.VehicleEvent
	for _, data := range chunks {
		es, err := c.VehicleEvents(data)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, es...)
	}
	sortEvents(all)
	var out [][]byte
	var bounds []chunkBounds
	for part := range slices.Chunk(all, rawchunk.MaxEvents) {
		data, err := c.AppendVehicleEvents(nil, part)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, data)
		bounds = append(bounds, chunkBounds{part[0].OccurredAt, part[len(part)-1].OccurredAt, len(part)})
	}
	return out, bounds, nil
}

// mergeClosedChunks merges the chunks of every closed span (within the
// lookback) that holds more than one, a bounded number of spans per
// transaction, and returns how many chunks it merged away. The projector
// only ever adds chunks (and a correction rewrites one, under the same row
// locks), so merging never loses or doubles a point.
func mergeClosedChunks(ctx context.Context, pool *pgxpool.Pool, codec *rawchunk.Codec, now time.Time, r Retention) (int, error) {
	span := SpanWidth(r)
	closedBefore := spanOf(now.Add(-mergeSettle), span) // spans starting here or later are open
	from := closedBefore.Add(-mergeLookback)
	total := 0
	for _, k := range mergeKinds {
		for {
			n, more, err := mergeRound(ctx, pool, codec, k, from, closedBefore)
			total += n
			if err != nil {
				return total, postgres.Classify(fmt.Errorf("merge chunks of %s: %w", k.table, err))
			}
			if !more || ctx.Err() != nil {
				break
			}
		}
	}
	return total, nil
}

// mergeRound merges up to mergeGroups spans in one transaction.
func mergeRound(ctx context.Context, pool *pgxpool.Pool, codec *rawchunk.Codec, k mergeKind, from, to time.Time) (merged int, more bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, k.groupSQL, from, to, mergeGroups)
		if err != nil {
			return err
		}
		groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]any, error) { return row.Values() })
		if err != nil {
			return err
		}
		more = len(groups) == mergeGroups
		for _, g := range groups {
			n, err := mergeSpan(ctx, tx, codec, k, g)
			if err != nil {
				return err
			}
			merged += n
		}
		return nil
	})
	return merged, more, err
}

// mergeSpan replaces the chunks of one span (group: its series columns and
// span_start) with merged ones, and returns how many fewer there are.
func mergeSpan(ctx context.Context, tx pgx.Tx, codec *rawchunk.Codec, k mergeKind, group []any) (int, error) {
	rows, err := tx.Query(ctx, k.lockSQL, group...)
	if err != nil {
		return 0, err
	}
	var (
		ids    []int64
		chunks [][]byte
		id     int64
		data   []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &data}, func() error {
		ids = append(ids, id)
		chunks = append(chunks, slices.Clone(data))
		return nil
	}); err != nil {
		return 0, err
	}
	if len(chunks) < 2 {
		return 0, nil // merged meanwhile
	}
	merged, bounds, err := k.merge(codec, chunks)
	if err != nil {
		return 0, fmt.Errorf("%v: %w", group, err)
	}
	where := ""
	for i, col := range append(slices.Clone(k.series), "span_start") {
		where += fmt.Sprintf("%s = $%d AND ", col, i+1)
	}
	n := len(group)
	if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE %schunk_id = ANY($%d)`, k.table, where, n+1), append(slices.Clone(group), ids)...); err != nil {
		return 0, err
	}
	count := "points"
	if k.table == "rm_vehicle_event_chunks" {
		count = "events"
	}
	cols := append(append(slices.Clone(k.series), "span_start"), "first_at", "last_at", count, "data")
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{k.table}, cols, pgx.CopyFromSlice(len(merged), func(i int) ([]any, error) {
		return append(slices.Clone(group), bounds[i].first, bounds[i].last, bounds[i].n, merged[i]), nil
	})); err != nil {
		return 0, err
	}
	return len(chunks) - len(merged), nil
}
