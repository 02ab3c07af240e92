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
	itemKeysTable  = "telemetry_item_ids"
	itemKeysPrefix = itemKeysTable + "_"
	dayLayout      = "20060102"
	// itemKeysLockID serialises the processes that make and drop partitions.
	itemKeysLockID = 0x66_70_69_6b // "fpik"

	itemKeyPartitionsSQL = `
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'telemetry_item_ids'::regclass`
)

// itemKeyDays keeps telemetry_item_ids partitioned by UTC day: it makes the
// partitions of the current and the next day before items are recorded on
// them, and drops whole days once they are older than the horizon.
// Partitions are made by a plain table plus ATTACH, which locks the parent
// only against other schema changes, not against appends.
type itemKeyDays struct {
	pool    *pgxpool.Pool
	horizon time.Duration
	logger  *slog.Logger

	mu   sync.Mutex
	made map[string]bool // days whose partition is known to exist
}

func newItemKeyDays(pool *pgxpool.Pool, horizon time.Duration, logger *slog.Logger) *itemKeyDays {
	return &itemKeyDays{pool: pool, horizon: horizon, logger: logger, made: map[string]bool{}}
}

// dayOf is the UTC date t falls on.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ensure makes the partitions of now's day and the next one when missing;
// the first call of a process, and every new day, also drop expired days.
func (d *itemKeyDays) ensure(ctx context.Context, now time.Time) error {
	today := dayOf(now)
	days := []time.Time{today, today.AddDate(0, 0, 1)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.made[today.Format(dayLayout)] && d.made[days[1].Format(dayLayout)] {
		return nil
	}
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, itemKeysLockID); err != nil {
			return err
		}
		existing, err := partitionDays(ctx, tx)
		if err != nil {
			return err
		}
		for _, day := range days {
			name := itemKeysPrefix + day.Format(dayLayout)
			if existing[day.Format(dayLayout)] {
				continue
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS)`,
				pgx.Identifier{name}.Sanitize(), itemKeysTable)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
				itemKeysTable, pgx.Identifier{name}.Sanitize(), day.Format(time.DateOnly), day.AddDate(0, 0, 1).Format(time.DateOnly))); err != nil {
				return err
			}
			d.logger.Info("item key partition made", "partition", name)
		}
		return nil
	})
	if err != nil {
		return postgres.Classify(fmt.Errorf("make item key partitions: %w", err))
	}
	for _, day := range days {
		d.made[day.Format(dayLayout)] = true
	}
	// A new day: a good time to let go of old ones. Failing to is not the
	// append's problem; the next day tries again.
	if _, err := d.dropExpiredLocked(ctx, now); err != nil {
		d.logger.Warn("drop expired item keys", "err", err)
	}
	return nil
}

// forget makes the next ensure look at the database again.
func (d *itemKeyDays) forget() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.made)
}

// dropExpired drops the partitions of days that ended more than the
// horizon before now, and returns their names.
func (d *itemKeyDays) dropExpired(ctx context.Context, now time.Time) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropExpiredLocked(ctx, now)
}

func (d *itemKeyDays) dropExpiredLocked(ctx context.Context, now time.Time) ([]string, error) {
	cutoff := now.Add(-d.horizon)
	var dropped []string
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, itemKeysLockID); err != nil {
			return err
		}
		// Dropping a partition locks the parent out for a moment; never
		// queue behind a long reader for it (and everyone behind us).
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return err
		}
		existing, err := partitionDays(ctx, tx)
		if err != nil {
			return err
		}
		days := make([]string, 0, len(existing))
		for day := range existing {
			days = append(days, day)
		}
		slices.Sort(days)
		for _, day := range days {
			start, err := time.Parse(dayLayout, day)
			if err != nil || start.AddDate(0, 0, 1).After(cutoff) {
				continue
			}
			name := itemKeysPrefix + day
			if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{name}.Sanitize()); err != nil {
				return err
			}
			dropped = append(dropped, name)
		}
		return nil
	})
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("drop expired item keys: %w", err))
	}
	for _, name := range dropped {
		delete(d.made, strings.TrimPrefix(name, itemKeysPrefix))
		d.logger.Info("item key partition dropped", "partition", name)
	}
	return dropped, nil
}

// partitionDays returns the days telemetry_item_ids has partitions for.
func partitionDays(ctx context.Context, tx pgx.Tx) (map[string]bool, error) {
	rows, err := tx.Query(ctx, itemKeyPartitionsSQL)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	days := make(map[string]bool, len(names))
	for _, n := range names {
		if day, ok := strings.CutPrefix(n, itemKeysPrefix); ok {
			days[day] = true
		}
	}
	return days, nil
}
