package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

const checkpointsSQL = `SELECT name, commit_pos, prepare_pos, events, updated_at FROM projection_checkpoints ORDER BY name`

// EventBacklog is what Statuses asks the event log: how many events follow
// a position, and how long the oldest of them has been in the log. The
// PostgreSQL event store answers it; EventStoreDB's does not.
type EventBacklog interface {
	Backlog(ctx context.Context, after domain.Position) (events int64, oldestWait time.Duration, err error)
}

// ProjectionStatus is where one projection stands.
type ProjectionStatus struct {
	Name      string
	Position  domain.Position
	Events    int64
	UpdatedAt time.Time
	// BacklogKnown says whether Behind and OldestWait were counted: only
	// with an event log that can count them.
	BacklogKnown bool
	Behind       int64         // events in the log after the checkpoint
	OldestWait   time.Duration // age of the oldest event not yet projected
}

// Statuses reports every projection's checkpoint and, when log is not nil,
// how far behind the event log it is.
func Statuses(ctx context.Context, pool *pgxpool.Pool, log EventBacklog) ([]ProjectionStatus, error) {
	rows, err := pool.Query(ctx, checkpointsSQL)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	sts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ProjectionStatus, error) {
		var (
			st              ProjectionStatus
			commit, prepare int64
		)
		err := row.Scan(&st.Name, &commit, &prepare, &st.Events, &st.UpdatedAt)
		st.Position = domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
		return st, err
	})
	if err != nil {
		return nil, postgres.Classify(err)
	}
	if log == nil {
		return sts, nil
	}
	for i := range sts {
		st := &sts[i]
		if st.Behind, st.OldestWait, err = log.Backlog(ctx, st.Position); err != nil {
			return nil, fmt.Errorf("backlog of projection %s: %w", st.Name, err)
		}
		st.BacklogKnown = true
	}
	return sts, nil
}

const lowestCheckpointSQL = `SELECT commit_pos, prepare_pos FROM projection_checkpoints ORDER BY commit_pos, prepare_pos LIMIT 1`

// LowestCheckpoint returns the checkpoint furthest behind in the log among
// every reader that keeps one here (the projections, a rebuild's shadow,
// the alerting forwarder): every reader has applied the log up to it.
// With no checkpoint at all it is domain.Start.
func LowestCheckpoint(ctx context.Context, pool *pgxpool.Pool) (domain.Position, error) {
	var commit, prepare int64
	err := pool.QueryRow(ctx, lowestCheckpointSQL).Scan(&commit, &prepare)
	if err == pgx.ErrNoRows {
		return domain.Start, nil
	}
	if err != nil {
		return domain.Start, postgres.Classify(fmt.Errorf("read the lowest checkpoint: %w", err))
	}
	return domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, nil
}
