package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
	"github.com/fleetpulse/fleetpulse/projections"
)

// KeepForever is a retention longer than any data: nothing expires (tests
// and analyses of old data use it).
const KeepForever = 200 * 365 * 24 * time.Hour

// AddRaw stores raw measurements and vehicle events (as chunks) without
// touching any aggregate or checkpoint: fixtures and tools load raw rows
// through it. Rows past the writer's raw retention are left out, as Apply
// leaves them out.
func (s *Writer) AddRaw(ctx context.Context, ms []projections.MeasurementRow, vs []projections.VehicleEventRow) error {
	floor := s.clock().Add(-s.retention.Raw)
	mchunks, err := s.measurementChunks(ms, floor)
	if err != nil {
		return err
	}
	vchunks, err := s.vehicleChunks(vs, floor)
	if err != nil {
		return err
	}
	if err := s.ensurePartitions(ctx, mchunks, vchunks, nil); err != nil {
		return err
	}
	return postgres.Classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.copyMeasurementChunks(ctx, tx, mchunks); err != nil {
			return err
		}
		return s.copyVehicleChunks(ctx, tx, vchunks)
	}))
}

// RawMeasurement is one raw measurement as the read model keeps it.
type RawMeasurement struct {
	DeviceID, Type string
	rawchunk.Point
}

// RawVehicleEvent is one raw vehicle event as the read model keeps it.
type RawVehicleEvent struct {
	DeviceID string
	rawchunk.VehicleEvent
}

const (
	allMeasurementChunksSQL  = `SELECT device_id, type, data FROM rm_measurement_chunks`
	allVehicleEventChunksSQL = `SELECT device_id, data FROM rm_vehicle_event_chunks`
)

// EachRawMeasurement calls fn with every raw measurement the writer's
// tables hold, in no particular order: what a comparison of two
// projections, or an audit, reads (chunk boundaries differ between two
// projections of the same log; their points do not).
func (s *Writer) EachRawMeasurement(ctx context.Context, fn func(RawMeasurement) error) error {
	rows, err := s.pool.Query(ctx, s.sql(allMeasurementChunksSQL))
	if err != nil {
		return postgres.Classify(fmt.Errorf("read raw measurements: %w", err))
	}
	var (
		m    RawMeasurement
		data []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&m.DeviceID, &m.Type, &data}, func() error {
		return s.codec.EachPoint(data, func(p rawchunk.Point) error {
			m.Point = p
			return fn(m)
		})
	})
	return postgres.Classify(err)
}

// EachRawVehicleEvent calls fn with every raw vehicle event the writer's
// tables hold, in no particular order.
func (s *Writer) EachRawVehicleEvent(ctx context.Context, fn func(RawVehicleEvent) error) error {
	rows, err := s.pool.Query(ctx, s.sql(allVehicleEventChunksSQL))
	if err != nil {
		return postgres.Classify(fmt.Errorf("read raw vehicle events: %w", err))
	}
	var (
		e    RawVehicleEvent
		data []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&e.DeviceID, &data}, func() error {
		return s.codec.EachVehicleEvent(data, func(v rawchunk.VehicleEvent) error {
			e.VehicleEvent = v
			return fn(e)
		})
	})
	return postgres.Classify(err)
}
