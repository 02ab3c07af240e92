package readmodel

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// alertsSQL: $1 device (empty: every device), $2 active only, $3 limit.
const alertsSQL = `
SELECT device_id, rule, type, raised_at, cleared_at, value, threshold FROM rm_alerts
WHERE ($1 = '' OR device_id = $1) AND (NOT $2 OR cleared_at IS NULL)
ORDER BY raised_at DESC, device_id, rule LIMIT $3`

// Alerts lists alerts newest first; an alert is active until cleared.
func (q *Queries) Alerts(ctx context.Context, aq readapi.AlertQuery) ([]readapi.Alert, error) {
	rows, err := q.pool.Query(ctx, alertsSQL, aq.DeviceID, aq.ActiveOnly, aq.Limit)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read alerts: %w", err))
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (readapi.Alert, error) {
		var a readapi.Alert
		err := row.Scan(&a.DeviceID, &a.Rule, &a.Type, &a.RaisedAt, &a.ClearedAt, &a.Value, &a.Threshold)
		a.Active = a.ClearedAt == nil
		return a, err
	})
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read alerts: %w", err))
	}
	return list, nil
}
