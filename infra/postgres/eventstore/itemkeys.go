package eventstore

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

const (
	itemKeysTable  = "telemetry_item_keys"
	itemKeysPrefix = itemKeysTable + "_"
	// spanLayout names a partition by its bounds, both in UTC: the name
	// alone says what it covers, whatever width it was made with.
	spanLayout = "200601021504"

	// legacyKeysTable is where keys were recorded, by UTC day, before
	// migration 00045; it is still searched and expired a day at a time
	// until its last day has passed the horizon.
	legacyKeysTable  = "telemetry_item_ids"
	legacyKeysPrefix = legacyKeysTable + "_"
	legacyDayLayout  = "20060102"

	// itemKeysLockID serialises the processes that make and drop partitions.
	itemKeysLockID = 0x66_70_69_6b // "fpik"

	partitionsOfSQL = `
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = $1::regclass`
)

// partitionWidths are the widths item key partitions may have: each
// divides a day, so partitions of any of them start at UTC midnight and
// never straddle one.
var partitionWidths = []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 15 * time.Minute, 20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
	3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 8 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// ItemKeyPartitionWidth is the time one partition of item keys covers for
// a de-duplication horizon: a day from a horizon of two days, else the
// widest of partitionWidths that is at most a quarter of the horizon (at
// least a minute). A key is dropped between one horizon and one width
// after it was recorded. Every append looks its keys up in every
// partition's index, so partitions are as wide as this allows: about
// horizon/width + 2 of them exist at a time (the ahead one included).
func ItemKeyPartitionWidth(horizon time.Duration) time.Duration {
	if horizon >= 48*time.Hour {
		return 24 * time.Hour
	}
	w := partitionWidths[0]
	for _, c := range partitionWidths {
		if c <= horizon/4 {
			w = c
		}
	}
	return w
}

// span is the stretch of recorded time one partition covers: [from, to).
type span struct{ from, to time.Time }

func (s span) name() string {
	return itemKeysPrefix + s.from.UTC().Format(spanLayout) + "_" + s.to.UTC().Format(spanLayout)
}

func (s span) contains(t time.Time) bool { return !t.Before(s.from) && t.Before(s.to) }

// parseSpan reads a partition's span from its name.
func parseSpan(name string) (span, bool) {
	rest, ok := strings.CutPrefix(name, itemKeysPrefix)
	if !ok {
		return span{}, false
	}
	a, b, ok := strings.Cut(rest, "_")
	if !ok {
		return span{}, false
	}
	from, err1 := time.Parse(spanLayout, a)
	to, err2 := time.Parse(spanLayout, b)
	if err1 != nil || err2 != nil || !from.Before(to) {
		return span{}, false
	}
	return span{from: from, to: to}, true
}

// spanAt returns the partition t is recorded in: an existing one that
// holds t (made false), or the slot of width t falls in, shortened so that
// it overlaps no existing partition (made true: it is to be made). The
// shortening matters after the horizon, and so the width, changed: the
// partitions made with the old width stay until they expire.
func spanAt(t time.Time, width time.Duration, existing []span) (s span, toMake bool) {
	start := t.Truncate(width)
	s = span{from: start, to: start.Add(width)}
	for _, e := range existing {
		if e.contains(t) {
			return e, false
		}
		if !e.to.After(t) && e.to.After(s.from) {
			s.from = e.to
		}
		if e.from.After(t) && e.from.Before(s.to) {
			s.to = e.from
		}
	}
	return s, true
}

// itemKeyPartitions keeps telemetry_item_keys partitioned by recorded time,
// ItemKeyPartitionWidth(horizon) a partition: it makes the partition of
// now and the next one before items are recorded in them, and drops whole
// partitions once their end is older than the horizon. It also expires the
// day partitions of the table keys were kept in before (legacyKeysTable)
// and says whether any is left to search. Partitions are made by a plain
// table plus ATTACH, which locks the parent only against other schema
// changes, not against appends.
type itemKeyPartitions struct {
	pool    *pgxpool.Pool
	horizon time.Duration
	width   time.Duration
	logger  *slog.Logger

	mu sync.Mutex
	// current is the partition the last ensure recorded in, and the next
	// one exists too; zero when unknown.
	current span
	// legacy: the legacy table may still hold keys (true until looked at).
	legacy bool
}

func newItemKeyPartitions(pool *pgxpool.Pool, horizon time.Duration, logger *slog.Logger) *itemKeyPartitions {
	return &itemKeyPartitions{pool: pool, horizon: horizon, width: ItemKeyPartitionWidth(horizon), logger: logger, legacy: true}
}

// searchLegacy says whether appends must also look for their keys among
// the keys recorded before migration 00045.
func (p *itemKeyPartitions) searchLegacy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.legacy
}

// ensure makes the partition now falls in and the one after it when
// missing; when now has left the partition of the last call (or on the
// first call), it also drops expired partitions.
func (p *itemKeyPartitions) ensure(ctx context.Context, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current.contains(now) {
		return nil
	}
	var current span
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, itemKeysLockID); err != nil {
			return err
		}
		existing, err := spans(ctx, tx)
		if err != nil {
			return err
		}
		at := now
		for i := range 2 {
			s, toMake := spanAt(at, p.width, existing)
			if toMake {
				if err := p.make(ctx, tx, s); err != nil {
					return err
				}
				existing = append(existing, s)
			}
			if i == 0 {
				current = s
			}
			at = s.to
		}
		return nil
	})
	if err != nil {
		return postgres.Classify(fmt.Errorf("make item key partitions: %w", err))
	}
	p.current = current
	// A new partition: a good time to let go of old ones. Failing to is
	// not the append's problem; the next partition tries again.
	if _, err := p.dropExpiredLocked(ctx, now); err != nil {
		p.logger.Warn("drop expired item keys", "err", err)
	}
	return nil
}

func (p *itemKeyPartitions) make(ctx context.Context, tx pgx.Tx, s span) error {
	name := pgx.Identifier{s.name()}.Sanitize()
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS)`, name, itemKeysTable)); err != nil {
		return err
	}
	// Bounds as UTC literals: the session's time zone does not matter.
	if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
		itemKeysTable, name, s.from.UTC().Format(time.RFC3339), s.to.UTC().Format(time.RFC3339))); err != nil {
		return err
	}
	p.logger.Info("item key partition made", "partition", s.name())
	return nil
}

// forget makes the next ensure look at the database again.
func (p *itemKeyPartitions) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = span{}
}

// dropExpired drops the partitions that ended more than the horizon before
// now, legacy days included, and returns their names.
func (p *itemKeyPartitions) dropExpired(ctx context.Context, now time.Time) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropExpiredLocked(ctx, now)
}

func (p *itemKeyPartitions) dropExpiredLocked(ctx context.Context, now time.Time) ([]string, error) {
	cutoff := now.Add(-p.horizon)
	var (
		dropped    []string
		legacyLeft int
	)
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		dropped, legacyLeft = nil, 0
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, itemKeysLockID); err != nil {
			return err
		}
		// Dropping a partition locks the parent out for a moment; never
		// queue behind a long reader for it (and everyone behind us).
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return err
		}
		existing, err := spans(ctx, tx)
		if err != nil {
			return err
		}
		for _, s := range existing {
			if !s.to.After(cutoff) {
				dropped = append(dropped, s.name())
			}
		}
		days, err := partitionsOf(ctx, tx, legacyKeysTable)
		if err != nil {
			return err
		}
		for _, n := range days {
			day, err := time.Parse(legacyDayLayout, strings.TrimPrefix(n, legacyKeysPrefix))
			if err == nil && !day.AddDate(0, 0, 1).After(cutoff) {
				dropped = append(dropped, n)
				continue
			}
			legacyLeft++
		}
		slices.Sort(dropped)
		for _, n := range dropped {
			if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{n}.Sanitize()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("drop expired item keys: %w", err))
	}
	p.legacy = legacyLeft > 0
	for _, n := range dropped {
		if n == p.current.name() {
			p.current = span{}
		}
		p.logger.Info("item key partition dropped", "partition", n)
	}
	return dropped, nil
}

// spans returns the spans of telemetry_item_keys' partitions.
func spans(ctx context.Context, tx pgx.Tx) ([]span, error) {
	names, err := partitionsOf(ctx, tx, itemKeysTable)
	if err != nil {
		return nil, err
	}
	out := make([]span, 0, len(names))
	for _, n := range names {
		if s, ok := parseSpan(n); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

func partitionsOf(ctx context.Context, tx pgx.Tx, parent string) ([]string, error) {
	rows, err := tx.Query(ctx, partitionsOfSQL, parent)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
