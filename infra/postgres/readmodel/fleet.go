package readmodel

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

// countDevicesSQL counts devices in service by kind, and the silent ones
// among them (a device without a status row was never reported silent).
const countDevicesSQL = `
SELECT d.kind, count(*), count(*) FILTER (WHERE s.online IS FALSE)
FROM rm_devices d LEFT JOIN rm_device_status s ON s.device_id = d.device_id
WHERE NOT d.decommissioned
GROUP BY d.kind
ORDER BY d.kind`

// DeviceCount is how many devices of a kind are in service, and how many
// of those are silent.
type DeviceCount struct {
	Kind      string
	InService int64
	Silent    int64
}

// CountDevices counts the fleet by kind, for metrics.
func CountDevices(ctx context.Context, pool *pgxpool.Pool) ([]DeviceCount, error) {
	rows, err := pool.Query(ctx, countDevicesSQL)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("count devices: %w", err))
	}
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeviceCount])
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("count devices: %w", err))
	}
	return counts, nil
}
