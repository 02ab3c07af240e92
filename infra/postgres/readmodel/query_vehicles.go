package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/readapi"
)

const (
	vehicleEventsSQL = `
SELECT eid, type, occurred_at, readings::text, lat, lon, data::text FROM rm_vehicle_events
WHERE device_id = $1
  AND occurred_at >= $2 AND occurred_at < $3
  AND ($4 = '' OR type = $4)
  AND (occurred_at, eid) < ($5, $6)
ORDER BY occurred_at DESC, eid DESC
LIMIT $7`

	vehicleEventSQL = `
SELECT eid, type, occurred_at, readings::text, lat, lon, data::text FROM rm_vehicle_events
WHERE device_id = $1 AND eid = $2`
)

// VehicleEvents pages through a vehicle's events, newest first.
func (q *Queries) VehicleEvents(ctx context.Context, vq readapi.VehicleEventQuery) ([]readapi.VehicleEvent, error) {
	rows, err := q.pool.Query(ctx, vehicleEventsSQL, vq.VehicleID, vq.From, vq.To, vq.Type, vq.Before.At, vq.Before.EID, vq.Limit)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read events of vehicle %q: %w", vq.VehicleID, err))
	}
	events, err := pgx.CollectRows(rows, scanVehicleEvent)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read events of vehicle %q: %w", vq.VehicleID, err))
	}
	return events, nil
}

// VehicleEvent returns one event, or readapi.ErrEventNotFound.
func (q *Queries) VehicleEvent(ctx context.Context, vehicleID, eid string) (readapi.VehicleEvent, error) {
	rows, err := q.pool.Query(ctx, vehicleEventSQL, vehicleID, eid)
	if err != nil {
		return readapi.VehicleEvent{}, postgres.Classify(fmt.Errorf("read event %q of vehicle %q: %w", eid, vehicleID, err))
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanVehicleEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("event %q of vehicle %q: %w", eid, vehicleID, readapi.ErrEventNotFound)
	}
	if err != nil {
		return e, postgres.Classify(fmt.Errorf("read event %q of vehicle %q: %w", eid, vehicleID, err))
	}
	return e, nil
}

func scanVehicleEvent(row pgx.CollectableRow) (readapi.VehicleEvent, error) {
	var (
		e              readapi.VehicleEvent
		readings, data *string
		lat, lon       *float64
	)
	if err := row.Scan(&e.EID, &e.Type, &e.OccurredAt, &readings, &lat, &lon, &data); err != nil {
		return e, err
	}
	e.OccurredAt = e.OccurredAt.UTC()
	if readings != nil {
		e.Readings = []byte(*readings)
	}
	if data != nil {
		e.Data = []byte(*data)
	}
	if lat != nil && lon != nil {
		e.Location = &readapi.Location{Lat: *lat, Lon: *lon}
	}
	return e, nil
}
