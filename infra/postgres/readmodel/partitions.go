package readmodel

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
)

// Retention says how long the time-partitioned read models keep rows; zero
// keeps them forever. Rows go a whole partition at a time (DROP TABLE),
// never by DELETE: no bloat, no vacuum debt, no WAL for what goes.
type Retention struct {
	// Raw is how long raw measurements and vehicle events are kept, by
	// their measured (occurred) time. Default 90 days.
	Raw time.Duration
	// Hourly is how long hourly aggregates are kept. Default 2 years.
	Hourly time.Duration
}

// Default retention periods (FLEETPULSE_RAW_RETENTION, FLEETPULSE_HOURLY_RETENTION).
const (
	DefaultRawRetention    = 90 * 24 * time.Hour
	DefaultHourlyRetention = 2 * 365 * 24 * time.Hour
)

// WithDefaults fills in unset periods.
func (r Retention) WithDefaults() Retention {
	if r.Raw <= 0 {
		r.Raw = DefaultRawRetention
	}
	if r.Hourly <= 0 {
		r.Hourly = DefaultHourlyRetention
	}
	return r
}

// partitionWidths are the partition widths to choose from: each divides the
// next, and a width of a day or less divides a day, so partitions line up
// with UTC days (and with each other when the retention changes).
var partitionWidths = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	7 * 24 * time.Hour, 28 * 24 * time.Hour,
}

// PartitionWidth is the width of a table's partitions for a retention
// period: the widest of partitionWidths that fits eight times in it, so a
// table keeps between one and 1 1/8 times its period.
func PartitionWidth(retention time.Duration) time.Duration {
	w := partitionWidths[0]
	for _, c := range partitionWidths {
		if c*8 <= retention {
			w = c
		}
	}
	return w
}

// partitionedTable is a time-partitioned read-model table.
type partitionedTable struct {
	name   string // the live table
	column string // its partition key, a timestamptz
	keep   func(Retention) time.Duration
}

var partitionedTables = []partitionedTable{
	{"rm_measurement_chunks", "span_start", func(r Retention) time.Duration { return r.Raw }},
	{"rm_vehicle_event_chunks", "span_start", func(r Retention) time.Duration { return r.Raw }},
	{"rm_vehicle_event_ids", "occurred_at", func(r Retention) time.Duration { return r.Raw }},
	{"rm_hourly", "hour", func(r Retention) time.Duration { return r.Hourly }},
}

// partitionColumn returns the partition key of a live table name, "" for a
// table that is not partitioned.
func partitionColumn(table string) string {
	for _, p := range partitionedTables {
		if p.name == table {
			return p.column
		}
	}
	return ""
}

// partition is one partition of a table: [from, to).
type partition struct {
	name     string
	from, to time.Time
}

const partitionsSQL = `
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = $1::regclass`

// partitionsOf lists a partitioned table's partitions, oldest first. The
// transaction must run in UTC (bounds are printed in the session's zone).
func partitionsOf(ctx context.Context, tx pgx.Tx, table string) ([]partition, error) {
	rows, err := tx.Query(ctx, partitionsSQL, pgx.Identifier{table}.Sanitize())
	if err != nil {
		return nil, err
	}
	var (
		out         []partition
		name, bound string
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &bound}, func() error {
		from, to, err := parseRangeBound(bound)
		if err != nil {
			return fmt.Errorf("partition %s: %w", name, err)
		}
		out = append(out, partition{name: name, from: from, to: to})
		return nil
	})
	slices.SortFunc(out, func(a, b partition) int { return a.from.Compare(b.from) })
	return out, err
}

// parseRangeBound reads "FOR VALUES FROM ('2026-11-29 00:00:00+00') TO (...)".
func parseRangeBound(bound string) (time.Time, time.Time, error) {
	var fromS, toS string
	parts := strings.Split(bound, "'")
	if len(parts) != 5 {
		return time.Time{}, time.Time{}, fmt.Errorf("unexpected bound %q", bound)
	}
	fromS, toS = parts[1], parts[3]
	from, err := time.Parse("2006-01-02 15:04:05-07", fromS)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("bound %q: %w", bound, err)
	}
	to, err := time.Parse("2006-01-02 15:04:05-07", toS)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("bound %q: %w", bound, err)
	}
	return from.UTC(), to.UTC(), nil
}

// partitionName names the partition of table starting at from.
func partitionName(table string, from time.Time) string {
	return table + "_p" + from.UTC().Format("200601021504")
}

// coverPartitions makes partitions of table so that [from, to) is covered:
// each gap between existing partitions is filled with width-aligned
// partitions, clipped where they would overlap an existing one. It returns
// the names made. Each partition is made in a transaction of its own (a
// process killed half way keeps what it made), as a plain table then
// attached: attaching locks the parent only against other schema changes,
// so the projector and readers go on meanwhile.
func coverPartitions(ctx context.Context, db database, table string, from, to time.Time, width time.Duration) ([]string, error) {
	var made []string
	for {
		var next *partition
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if err := maintenanceSession(ctx, tx); err != nil {
				return err
			}
			existing, err := partitionsOf(ctx, tx, table)
			if err != nil {
				return err
			}
			next = firstGap(existing, from, to, width)
			if next == nil {
				return nil
			}
			next.name = partitionName(table, next.from)
			if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS)`,
				pgx.Identifier{next.name}.Sanitize(), pgx.Identifier{table}.Sanitize())); err != nil {
				return fmt.Errorf("make partition %s: %w", next.name, err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
				pgx.Identifier{table}.Sanitize(), pgx.Identifier{next.name}.Sanitize(),
				next.from.UTC().Format(time.RFC3339), next.to.UTC().Format(time.RFC3339))); err != nil {
				return fmt.Errorf("attach partition %s: %w", next.name, err)
			}
			return nil
		})
		if err != nil || next == nil {
			return made, err
		}
		made = append(made, next.name)
	}
}

// firstGap returns the first width-aligned range in [from, to) that no
// existing partition covers, clipped to the partitions around it; nil when
// [from, to) is covered.
func firstGap(existing []partition, from, to time.Time, width time.Duration) *partition {
	for at := from.Truncate(width); at.Before(to); {
		end := at.Add(width)
		covered := false
		for _, p := range existing {
			if !p.from.After(at) && p.to.After(at) {
				at, covered = p.to, true // inside an existing one: go past it
				break
			}
			if p.from.After(at) && p.from.Before(end) {
				end = p.from
			}
		}
		if !covered {
			return &partition{from: at, to: end}
		}
	}
	return nil
}

// dropPartitionsBefore drops the partitions of table that end at or
// before cutoff, and returns their names.
func dropPartitionsBefore(ctx context.Context, tx pgx.Tx, table string, cutoff time.Time) ([]string, error) {
	existing, err := partitionsOf(ctx, tx, table)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, p := range existing {
		if p.to.After(cutoff) {
			continue
		}
		if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{p.name}.Sanitize()); err != nil {
			return dropped, fmt.Errorf("drop partition %s: %w", p.name, err)
		}
		dropped = append(dropped, p.name)
	}
	return dropped, nil
}

// keptFrom is the start of a table's oldest partition (zero when it has none).
func keptFrom(ctx context.Context, tx pgx.Tx, table string) (time.Time, error) {
	ps, err := partitionsOf(ctx, tx, table)
	if err != nil || len(ps) == 0 {
		return time.Time{}, err
	}
	return ps[0].from, nil
}

// partitionCache remembers the partitions a writer has seen, so a batch
// whose rows all have one makes no round trip for them.
type partitionCache struct {
	mu    sync.Mutex
	known map[string][]partition // by table
}

func newPartitionCache() *partitionCache { return &partitionCache{known: map[string][]partition{}} }

func (c *partitionCache) covers(table string, t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.known[table] {
		if !t.Before(p.from) && t.Before(p.to) {
			return true
		}
	}
	return false
}

func (c *partitionCache) coversAll(table string, ts []time.Time) bool {
	for _, t := range ts {
		if !c.covers(table, t) {
			return false
		}
	}
	return true
}

func (c *partitionCache) set(table string, ps []partition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.known[table] = ps
}

func (c *partitionCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.known)
}

// ensurePartitions makes the partitions a batch's chunks and hourly rows
// go to, where missing: maintenance makes them ahead of time, but a
// rebuild, a backfill or a first start may need others.
func (s *Writer) ensurePartitions(ctx context.Context, mchunks []measurementChunk, vchunks []vehicleChunk, hours []projections.HourKey) error {
	need := map[string][]time.Time{}
	for _, c := range mchunks {
		need["rm_measurement_chunks"] = append(need["rm_measurement_chunks"], c.span)
	}
	for _, c := range vchunks {
		need["rm_vehicle_event_chunks"] = append(need["rm_vehicle_event_chunks"], c.span)
		need["rm_vehicle_event_ids"] = append(need["rm_vehicle_event_ids"], c.at...)
	}
	for _, h := range hours {
		need["rm_hourly"] = append(need["rm_hourly"], h.Hour)
	}
	for _, t := range partitionedTables {
		table := t.name + s.suffix
		var lo, hi time.Time
		for _, at := range need[t.name] {
			if s.parts.covers(table, at) {
				continue
			}
			if lo.IsZero() || at.Before(lo) {
				lo = at
			}
			if hi.IsZero() || at.After(hi) {
				hi = at
			}
		}
		if lo.IsZero() {
			continue
		}
		// Usually they exist (a process that just started does not know it
		// yet): look first; make what is missing only then.
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL timezone = 'UTC'`); err != nil {
				return err
			}
			ps, err := partitionsOf(ctx, tx, table)
			if err == nil {
				s.parts.set(table, ps)
			}
			return err
		})
		if err == nil && !s.parts.coversAll(table, need[t.name]) {
			if _, err = coverPartitions(ctx, s.pool, table, lo, hi.Add(time.Nanosecond), PartitionWidth(t.keep(s.retention))); err == nil {
				err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, `SET LOCAL timezone = 'UTC'`); err != nil {
						return err
					}
					ps, err := partitionsOf(ctx, tx, table)
					if err == nil {
						s.parts.set(table, ps)
					}
					return err
				})
			}
		}
		if err != nil {
			return postgres.Classify(fmt.Errorf("make partitions of %s: %w", table, err))
		}
	}
	return nil
}
