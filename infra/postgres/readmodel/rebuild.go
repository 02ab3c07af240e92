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

	lockCheckpointSQL = `SELECT commit_pos, prepare_pos, events FROM projection_checkpoints WHERE name = $1 FOR UPDATE`
	setCheckpointSQL  = `
INSERT INTO projection_checkpoints (name, commit_pos, prepare_pos, events, updated_at) VALUES ($1, $2, $3, $4, now())
ON CONFLICT (name) DO UPDATE SET commit_pos = $2, prepare_pos = $3, events = $4, updated_at = now()`
	deleteCheckpointSQL = `DELETE FROM projection_checkpoints WHERE name = $1`
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
		// The shadow's projection starts from the beginning again.
		_, err := tx.Exec(ctx, deleteCheckpointSQL, sh.CheckpointName(projections.ReadModels))
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
// projection's checkpoint to where the shadow stands, in one transaction:
// readers see the old tables or the new ones, never a mix. It waits for the
// live projector's batch in flight (the checkpoint row lock); that projector
// then finds its checkpoint moved, reloads it and goes on with the new tables.
func (s *Shadow) Promote(ctx context.Context, live string) error {
	shadowName := s.CheckpointName(live)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var commit, prepare, events int64
		if err := tx.QueryRow(ctx, lockCheckpointSQL, shadowName).Scan(&commit, &prepare, &events); err != nil {
			return fmt.Errorf("read shadow checkpoint: %w", err)
		}
		var liveCommit, livePrepare, liveEvents int64
		if err := tx.QueryRow(ctx, lockCheckpointSQL, live).Scan(&liveCommit, &livePrepare, &liveEvents); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("lock live checkpoint: %w", err)
		}
		if (domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}).Less(domain.Position{Commit: uint64(liveCommit), Prepare: uint64(livePrepare)}) {
			return projections.ErrShadowBehind
		}
		for _, t := range Tables {
			if err := swapTable(ctx, tx, t); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, setCheckpointSQL, live, commit, prepare, events); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, deleteCheckpointSQL, shadowName)
		return err
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
	return postgres.Classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range Tables {
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{t + retiredSuffix}.Sanitize()); err != nil {
				return err
			}
		}
		return nil
	}))
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
