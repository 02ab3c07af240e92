package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
)

const (
	// insertableColumnsSQL lists the columns a row copy writes: not the
	// identity columns, which the live table numbers itself.
	insertableColumnsSQL = `
SELECT column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'NO' AND is_generated = 'NEVER'
ORDER BY ordinal_position`
	lockCheckpointSQL = `SELECT commit_pos, prepare_pos FROM projection_checkpoints WHERE name = $1 FOR UPDATE`
	// vehicleEventIDsTable has no device column: its rows are keyed by a
	// hash of (device, eid), and a share's rows are the ones its rebuild
	// makes again.
	vehicleEventIDsTable = "rm_vehicle_event_ids"
)

// promoteShare replaces, in one transaction, the live rows of share's
// devices by the shadow's (which holds only theirs) and moves the share's
// live checkpoint to the shadow's: readers see the share's old rows or its
// new ones, the other shares' rows throughout. The share's live projector
// waits for it (its checkpoint row lock), then goes on from the new
// checkpoint; the other shares' projectors go on meanwhile.
func (s *Shadow) promoteShare(ctx context.Context, live string, share projections.Share) error {
	shadowName := s.CheckpointName(live)
	// The live tables need the partitions the shadow's rows go to.
	if err := s.coverShadowPartitions(ctx); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		stored, err := lockShares(ctx, tx, live)
		if err != nil {
			return err
		}
		if stored != share.Shares() {
			return fmt.Errorf("%w: the read models run as %d shares, not %d", projections.ErrShareCountChanged, stored, share.Shares())
		}
		shadowCPs, err := lockCheckpoints(ctx, tx, shadowName)
		if err != nil {
			return fmt.Errorf("read shadow checkpoints: %w", err)
		}
		at, ok := shadowCPs[share.CheckpointName(shadowName)]
		if !ok {
			return fmt.Errorf("the shadow read models have no checkpoint of %s", share)
		}
		// Only this share's live checkpoint: the other shares' projectors
		// go on committing meanwhile.
		var commit, prepare int64
		err = tx.QueryRow(ctx, lockCheckpointSQL, share.CheckpointName(live)).Scan(&commit, &prepare)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("lock the live checkpoint of %s: %w", share, err)
		}
		if at.pos.Less(domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}) {
			return projections.ErrShadowBehind
		}
		devices, err := shareDevices(ctx, tx, share)
		if err != nil {
			return err
		}
		for _, t := range Tables {
			if fleetTables[t] && share.Index != 0 {
				continue // share 0 projects the events of no device
			}
			if err := replaceShareRows(ctx, tx, t, devices); err != nil {
				return fmt.Errorf("replace %s's rows of %s: %w", share, t, err)
			}
		}
		if _, err := tx.Exec(ctx, setCheckpointSQL, share.CheckpointName(live), int64(at.pos.Commit), int64(at.pos.Prepare), at.events); err != nil {
			return err
		}
		return dropShadowCheckpoints(ctx, tx, shadowName)
	})
	if err != nil {
		if errors.Is(err, projections.ErrShadowBehind) {
			return err
		}
		return fmt.Errorf("promote rebuilt %s: %w", share, postgres.Classify(err))
	}
	return s.dropTables(ctx, shadowSuffix)
}

// fleetTables hold rows of no device (read keys): they are projected from
// streams that are not a device's, which belong to share 0, so rebuilding
// share 0 replaces them whole and rebuilding another share leaves them.
var fleetTables = map[string]bool{"rm_read_keys": true}

// shareDevices lists the devices of share that have rows in the live or
// the shadow read models.
func shareDevices(ctx context.Context, tx pgx.Tx, share projections.Share) ([]string, error) {
	var selects []string
	for _, t := range Tables {
		if t == vehicleEventIDsTable || fleetTables[t] {
			continue
		}
		for _, name := range []string{t, t + shadowSuffix} {
			selects = append(selects, `SELECT DISTINCT device_id FROM `+pgx.Identifier{name}.Sanitize())
		}
	}
	rows, err := tx.Query(ctx, strings.Join(selects, " UNION "))
	if err != nil {
		return nil, fmt.Errorf("list the devices of the read models: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the devices of the read models: %w", err)
	}
	out := ids[:0]
	for _, id := range ids {
		if share.OwnsDevice(id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// replaceShareRows deletes the live rows of devices from table t and
// copies in the shadow's.
func replaceShareRows(ctx context.Context, tx pgx.Tx, t string, devices []string) error {
	liveT, shadowT := pgx.Identifier{t}.Sanitize(), pgx.Identifier{t + shadowSuffix}.Sanitize()
	var err error
	switch {
	case fleetTables[t]:
		_, err = tx.Exec(ctx, `DELETE FROM `+liveT)
	case t == vehicleEventIDsTable:
		_, err = tx.Exec(ctx, `DELETE FROM `+liveT+` WHERE eid_hash IN (SELECT eid_hash FROM `+shadowT+`)`)
	default:
		_, err = tx.Exec(ctx, `DELETE FROM `+liveT+` WHERE device_id = ANY($1)`, devices)
	}
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, insertableColumnsSQL, t)
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for i, c := range cols {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	list := strings.Join(cols, ", ")
	_, err = tx.Exec(ctx, `INSERT INTO `+liveT+` (`+list+`) SELECT `+list+` FROM `+shadowT)
	return err
}

// coverShadowPartitions makes the live partitions that the shadow's
// partitions' ranges need.
func (s *Shadow) coverShadowPartitions(ctx context.Context) error {
	for _, p := range partitionedTables {
		var ps []partition
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL timezone = 'UTC'`); err != nil {
				return err
			}
			var err error
			ps, err = partitionsOf(ctx, tx, p.name+shadowSuffix)
			return err
		})
		if err != nil {
			return postgres.Classify(fmt.Errorf("list the partitions of %s: %w", p.name+shadowSuffix, err))
		}
		for _, sp := range ps {
			if _, err := coverPartitions(ctx, s.pool, p.name, sp.from, sp.to, PartitionWidth(p.keep(s.retention))); err != nil {
				return postgres.Classify(fmt.Errorf("make partitions of %s: %w", p.name, err))
			}
		}
	}
	return nil
}
