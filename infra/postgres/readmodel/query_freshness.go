package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
)

// freshnessSQL reads when the read-model projection last committed rows
// (its checkpoint moves in the same transaction); when it runs as shares,
// when its slowest share did (every share's checkpoint moves through the
// whole log, its own devices' events or not), and nothing while a share
// has never started. On a hot standby the rows arrive by replication, so
// their time also counts the replication lag.
const freshnessSQL = `
SELECT CASE WHEN count(*) >= coalesce((SELECT shares FROM projection_shares WHERE projection = $1), 1) THEN min(updated_at) END
FROM projection_checkpoints WHERE ` + projectionCheckpointsWhere

// Freshness says how recent the read models are: when the projector (its
// slowest share) last committed to them; the zero time when it (one of
// its shares) never has.
func (q *Queries) Freshness(ctx context.Context) (time.Time, error) {
	var at *time.Time
	err := q.pool.QueryRow(ctx, freshnessSQL, projections.ReadModels).Scan(&at)
	if err != nil {
		return time.Time{}, postgres.Classify(fmt.Errorf("read the projection checkpoint's time: %w", err))
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}
