package readapi

// SQL over the read-model tables only (infra/postgres/readmodel/migrations). Every
// series query filters by device and type and walks an index in order.
const (
	deviceSQL = `
SELECT device_id, kind, name, lat, lon, timezone, vin, plate, model, version, decommissioned, registered_at, updated_at
FROM rm_devices WHERE device_id = $1`

	listDevicesSQL = `
SELECT device_id, kind, name, lat, lon, timezone, vin, plate, model, version, decommissioned, registered_at, updated_at
FROM rm_devices WHERE kind = $1 AND device_id > $2 ORDER BY device_id LIMIT $3`

	pointsSQL = `
SELECT measured_at, value FROM rm_measurements
WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4
ORDER BY measured_at, measurement_id
LIMIT $5`

	dailySQL = `
SELECT day, count, sum, min, max FROM rm_daily
WHERE device_id = $1 AND name = $2 AND day >= $3 AND day <= $4
ORDER BY day`

	latestSQL = `SELECT name, value, measured_at FROM rm_latest WHERE device_id = $1 ORDER BY name`

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
