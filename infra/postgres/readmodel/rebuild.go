package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
)

const (
	shadowSuffix  = "_rebuild"
	retiredSuffix = "_retired"
	// rebuildLockID serialises rebuilds: one shadow set exists at a time.
	rebuildLockID = 0x66_70_72_62 // "fprb"

	tableIndexesSQL = `
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1::regclass`

	setCheckpointSQL = `
INSERT INTO projection_checkpoints (name, commit_pos, prepare_pos, events, updated_at) VALUES ($1, $2, $3, $4, now())
ON CONFLICT (name) DO UPDATE SET commit_pos = $2, prepare_pos = $3, events = $4, updated_at = now()`
)

// Shadow is a second set of read-model tables that a rebuild fills from the
// start of the log while the live tables keep serving; Promote swaps it in.
type Shadow struct {
	*Writer
	lock *pgxpool.Conn
}

// CreateShadow creates empty shadow tables shaped like the live ones (a
// leftover shadow of an interrupted rebuild is dropped first), partitioned
// as they are; cfg is the live writer's (the shadow keeps what the live
// read models keep). Only one rebuild runs at a time; Close releases it.
func CreateShadow(ctx context.Context, pool *pgxpool.Pool, cfg WriterConfig) (*Shadow, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, rebuildLockID).Scan(&locked); err != nil {
		conn.Release()
		return nil, postgres.Classify(err)
	}
	if !locked {
		conn.Release()
		return nil, errors.New("another rebuild is running")
	}
	w, err := newWriter(pool, shadowSuffix, cfg)
	if err != nil {
		conn.Release()
		return nil, err
	}
	sh := &Shadow{Writer: w, lock: conn}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, t := range Tables {
			shadow := pgx.Identifier{t + shadowSuffix}.Sanitize()
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+shadow); err != nil {
				return err
			}
			create := fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING ALL)`, shadow, pgx.Identifier{t}.Sanitize())
			if col := partitionColumn(t); col != "" {
				// Its partitions are made as the rebuild needs them.
				create += ` PARTITION BY RANGE (` + pgx.Identifier{col}.Sanitize() + `)`
			}
			if _, err := tx.Exec(ctx, create); err != nil {
				return err
			}
		}
		// The shadow's projection starts from the beginning again, with
		// the share count of the rebuild's choosing.
		if _, err := tx.Exec(ctx, deleteProjectionCheckpointsSQL, sh.CheckpointName(projections.ReadModels)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, deleteSharesSQL, sh.CheckpointName(projections.ReadModels))
		return err
	})
	if err != nil {
		sh.Close()
		return nil, fmt.Errorf("create shadow read models: %w", postgres.Classify(err))
	}
	return sh, nil
}

// CheckpointName is the checkpoint of the projection that fills the shadow.
func (s *Shadow) CheckpointName(live string) string { return live + shadowSuffix }

// Promote swaps the shadow tables in for the live ones, and moves the live
// projection's checkpoints to where the shadow's stand, in one transaction:
// readers see the old tables or the new ones, never a mix. It waits for the
// live projectors' batches in flight (the checkpoint row locks); those
// projectors then find their checkpoints moved, reload them and go on with
// the new tables, or stop when the share count changed. With scope.One it
// replaces only the rows of one share's devices (promoteShare).
func (s *Shadow) Promote(ctx context.Context, live string, scope projections.RebuildScope) error {
	if scope.One {
		return s.promoteShare(ctx, live, projections.Share{Index: scope.Share, Count: scope.Shares})
	}
	shadowName := s.CheckpointName(live)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := lockShares(ctx, tx, live); err != nil {
			return err
		}
		shadowCPs, err := lockCheckpoints(ctx, tx, shadowName)
		if err != nil {
			return fmt.Errorf("read shadow checkpoints: %w", err)
		}
		liveCPs, err := lockCheckpoints(ctx, tx, live)
		if err != nil {
			return fmt.Errorf("lock live checkpoints: %w", err)
		}
		shares := scope.Of()
		for _, sh := range shares {
			at, ok := shadowCPs[sh.CheckpointName(shadowName)]
			if !ok {
				return fmt.Errorf("the shadow read models have no checkpoint of %s", sh)
			}
			for _, l := range liveCPs {
				if at.pos.Less(l.pos) {
					return projections.ErrShadowBehind
				}
			}
		}
		for _, t := range Tables {
			if err := swapTable(ctx, tx, t); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, deleteProjectionCheckpointsSQL, live); err != nil {
			return err
		}
		for _, sh := range shares {
			at := shadowCPs[sh.CheckpointName(shadowName)]
			if _, err := tx.Exec(ctx, setCheckpointSQL, sh.CheckpointName(live), int64(at.pos.Commit), int64(at.pos.Prepare), at.events); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, setSharesSQL, live, len(shares)); err != nil {
			return err
		}
		return dropShadowCheckpoints(ctx, tx, shadowName)
	})
	if errors.Is(err, projections.ErrShadowBehind) {
		return err
	}
	if err != nil {
		return fmt.Errorf("promote rebuilt read models: %w", postgres.Classify(err))
	}
	// Every answer the read API cached came from the old tables.
	if err := NotifyAll(ctx, s.pool); err != nil {
		return fmt.Errorf("notify the swap: %w", err)
	}
	// Queries that started on the old tables have finished or hold them
	// until they do; dropping waits for them.
	return s.dropTables(ctx, retiredSuffix)
}

// dropTables drops the read-model tables named with suffix.
func (s *Shadow) dropTables(ctx context.Context, suffix string) error {
	return postgres.Classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range Tables {
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{t + suffix}.Sanitize()); err != nil {
				return err
			}
		}
		return nil
	}))
}

func dropShadowCheckpoints(ctx context.Context, tx pgx.Tx, shadowName string) error {
	if _, err := tx.Exec(ctx, deleteProjectionCheckpointsSQL, shadowName); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, deleteSharesSQL, shadowName)
	return err
}

// lockShares locks projection's share count row (made with count 1 if
// missing) and returns the count. Whoever changes checkpoints of several
// shares locks it first, then checkpoint rows: one order, no deadlock.
func lockShares(ctx context.Context, tx pgx.Tx, projection string) (int, error) {
	if _, err := tx.Exec(ctx, ensureSharesSQL, projection); err != nil {
		return 0, fmt.Errorf("lock the share count: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, lockSharesSQL, projection).Scan(&n); err != nil {
		return 0, fmt.Errorf("lock the share count: %w", err)
	}
	return n, nil
}

// lockedCheckpoint is a checkpoint row read FOR UPDATE.
type lockedCheckpoint struct {
	pos    domain.Position
	events int64
}

// lockCheckpoints locks every checkpoint of projection, in name order.
func lockCheckpoints(ctx context.Context, tx pgx.Tx, projection string) (map[string]lockedCheckpoint, error) {
	rows, err := tx.Query(ctx, lockProjectionCheckpointsSQL, projection)
	if err != nil {
		return nil, err
	}
	out := map[string]lockedCheckpoint{}
	var (
		name                    string
		commit, prepare, events int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &commit, &prepare, &events}, func() error {
		out[name] = lockedCheckpoint{pos: domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, events: events}
		return nil
	})
	return out, err
}

// swapTable retires live table t and puts its shadow in its place, with the
// live table's index names, so later migrations find them.
func swapTable(ctx context.Context, tx pgx.Tx, t string) error {
	live, shadow, retired := t, t+shadowSuffix, t+retiredSuffix
	liveIdx, err := indexes(ctx, tx, live)
	if err != nil {
		return err
	}
	shadowIdx, err := indexes(ctx, tx, shadow)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{retired}.Sanitize()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, pgx.Identifier{live}.Sanitize(), pgx.Identifier{retired}.Sanitize())); err != nil {
		return err
	}
	for name := range liveIdx {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER INDEX %s RENAME TO %s`, pgx.Identifier{name}.Sanitize(), pgx.Identifier{name + retiredSuffix}.Sanitize())); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, pgx.Identifier{shadow}.Sanitize(), pgx.Identifier{live}.Sanitize())); err != nil {
		return err
	}
	if partitionColumn(t) != "" {
		// Partitions are named after their table: the retired ones after
		// the retired table, the shadow's after the live one.
		if err := renamePartitions(ctx, tx, retired, live, retired); err != nil {
			return err
		}
		if err := renamePartitions(ctx, tx, live, shadow, live); err != nil {
			return err
		}
	}
	// Match each shadow index to the live one with the same definition.
	for shadowName, def := range shadowIdx {
		for liveName, liveDef := range liveIdx {
			if normalizeIndexDef(def) == normalizeIndexDef(liveDef) {
				if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER INDEX %s RENAME TO %s`, pgx.Identifier{shadowName}.Sanitize(), pgx.Identifier{liveName}.Sanitize())); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// renamePartitions renames the partitions of table that are named
// <from>_p... to <to>_p...
func renamePartitions(ctx context.Context, tx pgx.Tx, table, from, to string) error {
	if _, err := tx.Exec(ctx, `SET LOCAL timezone = 'UTC'`); err != nil {
		return err
	}
	ps, err := partitionsOf(ctx, tx, table)
	if err != nil {
		return err
	}
	for _, p := range ps {
		rest, ok := strings.CutPrefix(p.name, from+"_p")
		if !ok {
			continue
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`,
			pgx.Identifier{p.name}.Sanitize(), pgx.Identifier{to + "_p" + rest}.Sanitize())); err != nil {
			return err
		}
	}
	return nil
}

func indexes(ctx context.Context, tx pgx.Tx, table string) (map[string]string, error) {
	rows, err := tx.Query(ctx, tableIndexesSQL, table)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var name, def string
	_, err = pgx.ForEachRow(rows, []any{&name, &def}, func() error {
		out[name] = def
		return nil
	})
	return out, err
}

// normalizeIndexDef keeps what makes an index what it is (unique or not,
// method, columns) and drops its and its table's names, so indexes of two
// tables can be compared.
func normalizeIndexDef(def string) string {
	head, _, _ := strings.Cut(def, " INDEX ")
	_, tail, _ := strings.Cut(def, " USING ")
	return head + " USING " + tail
}

// Close ends the rebuild's claim (the shadow tables stay until Promote or
// the next rebuild).
func (s *Shadow) Close() {
	if s.lock != nil {
		_, _ = s.lock.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, rebuildLockID)
		s.lock.Release()
		s.lock = nil
	}
}
