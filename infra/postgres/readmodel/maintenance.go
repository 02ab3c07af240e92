package readmodel

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

// maintenanceLockID serialises the processes that make, drop and compact
// partitions.
const maintenanceLockID = 0x66_70_72_6d // "fprm"

const setKeptFromSQL = `
INSERT INTO rm_retention (table_name, kept_from) VALUES ($1, $2)
ON CONFLICT (table_name) DO UPDATE SET kept_from = excluded.kept_from`

// Maintenance keeps the time-partitioned read models in shape: partitions
// made ahead of the data, whole partitions dropped once past their table's
// retention (rm_retention says from when each table keeps rows), and the
// small chunks of live ingest merged once their span has closed. The
// projector process runs it on a timer; it is safe to run in several
// processes at once.
type Maintenance struct {
	pool      *pgxpool.Pool
	codec     *rawchunk.Codec
	retention Retention
	clock     func() time.Time
	logger    *slog.Logger
	// Every is how often Run works (default: a quarter of the narrowest
	// partition, between 10 s and 5 min).
	Every time.Duration
}

// NewMaintenance returns the maintenance of the live read models.
func NewMaintenance(pool *pgxpool.Pool, retention Retention, clock func() time.Time, logger *slog.Logger) (*Maintenance, error) {
	codec, err := rawchunk.New()
	if err != nil {
		return nil, err
	}
	retention = retention.WithDefaults()
	every := min(PartitionWidth(retention.Raw), PartitionWidth(retention.Hourly)) / 4
	return &Maintenance{pool: pool, codec: codec, retention: retention, clock: clock, logger: logger,
		Every: min(max(every, 10*time.Second), 5*time.Minute)}, nil
}

// Run works every m.Every until ctx ends, the first time one period after
// it starts: a process that just started has a log to catch up with, and
// the writer makes the partitions it needs itself, so neither ingest nor
// projection ever waits for maintenance. A failed round is logged and tried
// again at the next tick.
func (m *Maintenance) Run(ctx context.Context) error {
	t := time.NewTicker(m.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := m.Once(ctx); err != nil && ctx.Err() == nil {
			m.logger.Warn("read model maintenance failed; trying again later", "err", err)
		}
	}
}

// MaintenanceReport says what one round did.
type MaintenanceReport struct {
	Made, Dropped []string // partitions
	Merged        int      // chunks merged into fewer
}

// Once makes and drops partitions for the clock's time, then merges
// closed chunks.
func (m *Maintenance) Once(ctx context.Context) (MaintenanceReport, error) {
	now := m.clock()
	var rep MaintenanceReport
	for _, t := range partitionedTables {
		made, dropped, err := maintainPartitions(ctx, m.pool, t.name, t.column, t.keep(m.retention), now)
		rep.Made = append(rep.Made, made...)
		rep.Dropped = append(rep.Dropped, dropped...)
		if err != nil {
			return rep, err
		}
	}
	for _, name := range rep.Dropped {
		m.logger.Info("expired partition dropped", "partition", name)
	}
	if len(rep.Dropped) > 0 {
		// Cached raw views may hold what was dropped.
		if err := NotifyAll(ctx, m.pool); err != nil {
			return rep, err
		}
	}
	merged, err := mergeClosedChunks(ctx, m.pool, m.codec, now, m.retention)
	rep.Merged = merged
	return rep, err
}

// maintainPartitions makes the partitions of [now, now + ahead) of a
// table, drops those that ended keep before now, and records from when the
// table keeps rows. ahead is two partitions and at least an hour, so live
// data (within the future-skew limit) always has one; older data gets its
// partitions from the writer, as it comes.
func maintainPartitions(ctx context.Context, pool *pgxpool.Pool, table, column string, keep time.Duration, now time.Time) (made, dropped []string, err error) {
	width := PartitionWidth(keep)
	ahead := max(2*width, time.Hour)
	made, err = coverPartitions(ctx, pool, table, now, now.Add(ahead), width)
	if err == nil {
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := maintenanceSession(ctx, tx); err != nil {
				return err
			}
			if dropped, err = dropPartitionsBefore(ctx, tx, table, now.Add(-keep)); err != nil {
				return err
			}
			from, err := keptFrom(ctx, tx, table)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, setKeptFromSQL, table, from)
			return err
		})
	}
	if err != nil {
		return made, dropped, postgres.Classify(fmt.Errorf("maintain partitions of %s: %w", table, err))
	}
	return made, dropped, nil
}

// maintenanceSession prepares a transaction that changes partitions: one
// such transaction at a time, bounds read in UTC, and never queueing behind
// a long reader for a lock (and everyone behind it).
func maintenanceSession(ctx context.Context, tx pgx.Tx) error {
	for _, q := range []string{
		`SELECT pg_advisory_xact_lock(` + fmt.Sprint(maintenanceLockID) + `)`,
		`SET LOCAL timezone = 'UTC'`,
		`SET LOCAL lock_timeout = '5s'`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
