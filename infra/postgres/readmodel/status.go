package readmodel

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
)

const (
	checkpointsSQL       = `SELECT name, commit_pos, prepare_pos, events, updated_at FROM projection_checkpoints ORDER BY name`
	partitionedSharesSQL = `SELECT projection, shares FROM projection_shares WHERE shares > 1`
)

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
	// Shares is, on the row that sums up a partitioned projection, how
	// many share rows follow it; 0 on every other row.
	Shares int
}

// Statuses reports every projection's checkpoint and, when log is not nil,
// how far behind the event log it is. A partitioned projection has a row
// per share ("<projection>/share-<i>-of-<n>") after a row named after the
// projection that its slowest share bounds: the lowest position and
// oldest commit time, the most events behind and the oldest waiting event,
// and the events all shares applied.
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
	if sts, err = withUnstartedShares(ctx, pool, sts); err != nil {
		return nil, err
	}
	if log != nil {
		for i := range sts {
			st := &sts[i]
			if st.Behind, st.OldestWait, err = log.Backlog(ctx, st.Position); err != nil {
				return nil, fmt.Errorf("backlog of projection %s: %w", st.Name, err)
			}
			st.BacklogKnown = true
		}
	}
	return withShareSummaries(sts), nil
}

// withUnstartedShares adds, for each share of a partitioned projection
// that has no checkpoint yet (its projector never started), a row at the
// start of the log that never committed: it bounds the projection's row.
func withUnstartedShares(ctx context.Context, pool *pgxpool.Pool, sts []ProjectionStatus) ([]ProjectionStatus, error) {
	rows, err := pool.Query(ctx, partitionedSharesSQL)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	var (
		projection string
		count      int
	)
	have := map[string]bool{}
	for _, st := range sts {
		have[st.Name] = true
	}
	_, err = pgx.ForEachRow(rows, []any{&projection, &count}, func() error {
		for i := range count {
			name := projections.Share{Index: i, Count: count}.CheckpointName(projection)
			if !have[name] {
				sts = append(sts, ProjectionStatus{Name: name, Position: domain.Start})
			}
		}
		return nil
	})
	if err != nil {
		return nil, postgres.Classify(err)
	}
	slices.SortFunc(sts, func(a, b ProjectionStatus) int { return strings.Compare(a.Name, b.Name) })
	return sts, nil
}

// withShareSummaries puts before the share rows of each partitioned
// projection the row that sums them up (sts is in name order, so a
// projection's shares are next to each other).
func withShareSummaries(sts []ProjectionStatus) []ProjectionStatus {
	out := make([]ProjectionStatus, 0, len(sts))
	for i := 0; i < len(sts); {
		base, partitioned := projections.ProjectionOfCheckpoint(sts[i].Name)
		if !partitioned {
			out = append(out, sts[i])
			i++
			continue
		}
		sum := sts[i]
		sum.Name, sum.Events, sum.Shares = base, 0, 0
		j := i
		for ; j < len(sts); j++ {
			b, ok := projections.ProjectionOfCheckpoint(sts[j].Name)
			if !ok || b != base {
				break
			}
			st := sts[j]
			if st.Position.Less(sum.Position) {
				sum.Position = st.Position
			}
			if st.UpdatedAt.Before(sum.UpdatedAt) {
				sum.UpdatedAt = st.UpdatedAt
			}
			sum.Behind, sum.OldestWait = max(sum.Behind, st.Behind), max(sum.OldestWait, st.OldestWait)
			sum.Events += st.Events
			sum.Shares++
		}
		out = append(append(out, sum), sts[i:j]...)
		i = j
	}
	return out
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
