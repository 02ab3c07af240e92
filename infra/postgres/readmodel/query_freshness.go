package readmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
)

// freshnessSQL reads when the read-model projection last committed rows
// (its checkpoint moves in the same transaction). On a hot standby the row
// arrives by replication, so its time also counts the replication lag.
const freshnessSQL = `SELECT updated_at FROM projection_checkpoints WHERE name = $1`

// Freshness says how recent the read models are: when the projector last
// committed to them; the zero time when it never has.
func (q *Queries) Freshness(ctx context.Context) (time.Time, error) {
	var at time.Time
	err := q.pool.QueryRow(ctx, freshnessSQL, projections.ReadModels).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, postgres.Classify(fmt.Errorf("read the projection checkpoint's time: %w", err))
	}
	return at, nil
}
