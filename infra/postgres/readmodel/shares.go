package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
)

// A projection's checkpoints are the row named after it (one share) or
// the rows "<projection>/share-<i>-of-<n>" (partitioned).
const (
	projectionCheckpointsWhere = `(name = $1 OR starts_with(name, $1 || '` + projections.ShareSeparator + `'))`

	sharesSQL       = `SELECT shares FROM projection_shares WHERE projection = $1`
	lockSharesSQL   = `SELECT shares FROM projection_shares WHERE projection = $1 FOR UPDATE`
	ensureSharesSQL = `INSERT INTO projection_shares (projection, shares) VALUES ($1, 1) ON CONFLICT (projection) DO NOTHING`
	setSharesSQL    = `
INSERT INTO projection_shares (projection, shares) VALUES ($1, $2)
ON CONFLICT (projection) DO UPDATE SET shares = $2, updated_at = now()`
	deleteSharesSQL = `DELETE FROM projection_shares WHERE projection = $1`

	anyCheckpointMovedSQL = `SELECT EXISTS (SELECT 1 FROM projection_checkpoints WHERE ` + projectionCheckpointsWhere + `
  AND (commit_pos, prepare_pos) <> (0, 0))`
	projectionCheckpointsSQL       = `SELECT name, commit_pos, prepare_pos FROM projection_checkpoints WHERE ` + projectionCheckpointsWhere + ` ORDER BY name`
	lockProjectionCheckpointsSQL   = `SELECT name, commit_pos, prepare_pos, events FROM projection_checkpoints WHERE ` + projectionCheckpointsWhere + ` ORDER BY name FOR UPDATE`
	deleteProjectionCheckpointsSQL = `DELETE FROM projection_checkpoints WHERE ` + projectionCheckpointsWhere
)

// ClaimShares returns how many shares projection runs as and, when that
// is count, where checkpoint stands (made at the start if new); while none
// of the projection's checkpoints has moved from the start of the log, it
// records count first (and drops the unmoved checkpoints of another
// count), so a new projection may start partitioned.
func (s *Writer) ClaimShares(ctx context.Context, projection, checkpoint string, count int) (int, domain.Position, error) {
	var (
		stored int
		cp     domain.Position
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The count's row, locked: claims (and a rebuild's promotion) of
		// one projection take turns, so a checkpoint is only ever made
		// for the count stored when it is made.
		if _, err := tx.Exec(ctx, ensureSharesSQL, projection); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, lockSharesSQL, projection).Scan(&stored); err != nil {
			return err
		}
		if stored == count {
			return ensureCheckpoint(ctx, tx, checkpoint, &cp)
		}
		var moved bool
		if err := tx.QueryRow(ctx, anyCheckpointMovedSQL, projection).Scan(&moved); err != nil {
			return err
		}
		if moved {
			return nil
		}
		if _, err := tx.Exec(ctx, deleteProjectionCheckpointsSQL, projection); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, setSharesSQL, projection, count); err != nil {
			return err
		}
		stored = count
		return ensureCheckpoint(ctx, tx, checkpoint, &cp)
	})
	if err != nil {
		return 0, domain.Position{}, postgres.Classify(fmt.Errorf("claim the share count of %s: %w", projection, err))
	}
	return stored, cp, nil
}

// ensureCheckpoint makes checkpoint if new and reads where it stands.
func ensureCheckpoint(ctx context.Context, tx pgx.Tx, checkpoint string, cp *domain.Position) error {
	if _, err := tx.Exec(ctx, ensureCheckpointSQL, checkpoint); err != nil {
		return err
	}
	var commit, prepare int64
	if err := tx.QueryRow(ctx, readCheckpointSQL, checkpoint).Scan(&commit, &prepare); err != nil {
		return err
	}
	*cp = domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
	return nil
}

// LiveShares returns how many shares projection live runs as.
func (s *Writer) LiveShares(ctx context.Context, live string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, sharesSQL, live).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 1, nil
	}
	if err != nil {
		return 0, postgres.Classify(fmt.Errorf("read the share count of %s: %w", live, err))
	}
	return n, nil
}

// LiveCheckpoints returns where each checkpoint of projection live stands.
func (s *Writer) LiveCheckpoints(ctx context.Context, live string) (map[string]domain.Position, error) {
	rows, err := s.pool.Query(ctx, projectionCheckpointsSQL, live)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	out := map[string]domain.Position{}
	var (
		name            string
		commit, prepare int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &commit, &prepare}, func() error {
		out[name] = domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
		return nil
	})
	return out, postgres.Classify(err)
}
