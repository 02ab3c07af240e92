package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/readapi"
)

const (
	deviceSQL = `
SELECT device_id, kind, name, lat, lon, timezone, vin, plate, model, version, decommissioned, registered_at, updated_at
FROM rm_devices WHERE device_id = $1`

	listDevicesSQL = `
SELECT device_id, kind, name, lat, lon, timezone, vin, plate, model, version, decommissioned, registered_at, updated_at
FROM rm_devices WHERE kind = $1 AND device_id > $2 ORDER BY device_id LIMIT $3`

	latestSQL = `SELECT name, value, measured_at FROM rm_latest WHERE device_id = $1 ORDER BY name`

	historySQL = `
SELECT commit_pos, prepare_pos, event_type, at, version, details::text FROM rm_device_history
WHERE device_id = $1 AND (commit_pos, prepare_pos) > ($2, $3)
ORDER BY commit_pos, prepare_pos
LIMIT $4`

	// A device's presence: the silence read model, and its newest measured
	// data from the latest values.
	deviceStatusSQL = `
SELECT d.kind, s.online, s.since,
       greatest(s.last_measured_at, (SELECT max(measured_at) FROM rm_latest l WHERE l.device_id = d.device_id))
FROM rm_devices d LEFT JOIN rm_device_status s ON s.device_id = d.device_id
WHERE d.device_id = $1`
)

// Device returns one station or vehicle, or domain.ErrDeviceNotFound.
func (q *Queries) Device(ctx context.Context, id string) (readapi.Device, error) {
	rows, err := q.pool.Query(ctx, deviceSQL, id)
	if err != nil {
		return readapi.Device{}, postgres.Classify(fmt.Errorf("read device %q: %w", id, err))
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDevice)
	if errors.Is(err, pgx.ErrNoRows) {
		return readapi.Device{}, fmt.Errorf("device %q: %w", id, domain.ErrDeviceNotFound)
	}
	if err != nil {
		return readapi.Device{}, postgres.Classify(fmt.Errorf("read device %q: %w", id, err))
	}
	return d, nil
}

// Devices pages through the devices of a kind in id order.
func (q *Queries) Devices(ctx context.Context, kind readapi.Kind, after string, limit int) ([]readapi.Device, error) {
	rows, err := q.pool.Query(ctx, listDevicesSQL, string(kind), after, limit)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("list %ss: %w", kind, err))
	}
	devices, err := pgx.CollectRows(rows, scanDevice)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("list %ss: %w", kind, err))
	}
	return devices, nil
}

func scanDevice(row pgx.CollectableRow) (readapi.Device, error) {
	var (
		d        readapi.Device
		kind     string
		lat, lon *float64
	)
	err := row.Scan(&d.ID, &kind, &d.Name, &lat, &lon, &d.TimeZone, &d.VIN, &d.Plate, &d.Model,
		&d.Version, &d.Decommissioned, &d.RegisteredAt, &d.UpdatedAt)
	if err != nil {
		return d, err
	}
	d.Kind = readapi.Kind(kind)
	if d.Kind == readapi.Station && lat != nil && lon != nil {
		d.Location = &readapi.Location{Lat: *lat, Lon: *lon}
	}
	d.RegisteredAt, d.UpdatedAt = d.RegisteredAt.UTC(), d.UpdatedAt.UTC()
	return d, nil
}

// Latest returns a device's newest value of each type or reading, by name.
func (q *Queries) Latest(ctx context.Context, deviceID string) ([]readapi.Latest, error) {
	out := []readapi.Latest{}
	var l readapi.Latest
	err := q.each(ctx, "read latest values", latestSQL, []any{deviceID}, []any{&l.Name, &l.Value, &l.MeasuredAt}, func() error {
		l.MeasuredAt = l.MeasuredAt.UTC()
		out = append(out, l)
		return nil
	})
	return out, err
}

// History pages through a device's audit trail, oldest first.
func (q *Queries) History(ctx context.Context, deviceID string, after readapi.HistoryCursor, limit int) ([]readapi.HistoryEntry, error) {
	entries := make([]readapi.HistoryEntry, 0, 16)
	var (
		e       readapi.HistoryEntry
		details string
	)
	err := q.each(ctx, "read history", historySQL, []any{deviceID, after.Commit, after.Prepare, limit},
		[]any{&e.Cursor.Commit, &e.Cursor.Prepare, &e.Type, &e.At, &e.Version, &details}, func() error {
			e.At = e.At.UTC()
			e.Details = []byte(details)
			entries = append(entries, e)
			e.Version = nil // a fresh one for the next row
			return nil
		})
	return entries, err
}

// DeviceStatus says whether a device sends measured data, or returns
// domain.ErrDeviceNotFound. A device never reported silent is online once
// it has sent data.
func (q *Queries) DeviceStatus(ctx context.Context, deviceID string) (readapi.DeviceStatus, error) {
	st := readapi.DeviceStatus{DeviceID: deviceID}
	var (
		kind   string
		online *bool
	)
	err := q.pool.QueryRow(ctx, deviceStatusSQL, deviceID).Scan(&kind, &online, &st.Since, &st.LastMeasuredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("device %q: %w", deviceID, domain.ErrDeviceNotFound)
	}
	if err != nil {
		return st, postgres.Classify(fmt.Errorf("read status of device %q: %w", deviceID, err))
	}
	st.Kind = readapi.Kind(kind)
	if online != nil {
		st.Online = *online
	} else {
		st.Online = st.LastMeasuredAt != nil
	}
	return st, nil
}
