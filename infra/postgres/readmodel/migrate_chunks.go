package readmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/projections"
)

// convertRowTablesVersion is the goose version of convertRowTables.
const convertRowTablesVersion = 10

// convertPage is how many old rows are converted at a time.
const convertPage = 50_000

// convertRowTables is migration 00010: the raw measurements, vehicle events
// and hourly aggregates that migration 00009 set aside (*_v1 row tables)
// are written into the chunk tables and the partitioned hourly table, and
// the old tables dropped, in the migration's one transaction. Nothing is
// left out for its age: retention drops what the configuration says, once
// the projector runs. A database that never had rows converts nothing.
func convertRowTables(ctx context.Context, tx pgx.Tx) error {
	// Default partition widths, and a clock at the beginning of time: no
	// row is past a retention floor here.
	w, err := newWriter(tx, "", WriterConfig{Clock: func() time.Time { return time.Time{} }})
	if err != nil {
		return err
	}
	if err := convertMeasurements(ctx, tx, w); err != nil {
		return fmt.Errorf("convert raw measurements: %w", err)
	}
	if err := convertVehicleEvents(ctx, tx, w); err != nil {
		return fmt.Errorf("convert raw vehicle events: %w", err)
	}
	if err := convertHourly(ctx, tx, w); err != nil {
		return fmt.Errorf("convert hourly aggregates: %w", err)
	}
	_, err = tx.Exec(ctx, `DROP TABLE rm_measurements_v1, rm_vehicle_events_v1, rm_hourly_v1`)
	return err
}

// eachPage runs query through a cursor and calls fn with each page of rows.
func eachPage(ctx context.Context, tx pgx.Tx, name, query string, fn func(pgx.Rows) error) error {
	if _, err := tx.Exec(ctx, `DECLARE `+name+` NO SCROLL CURSOR FOR `+query); err != nil {
		return err
	}
	for {
		rows, err := tx.Query(ctx, fmt.Sprintf(`FETCH %d FROM %s`, convertPage, name))
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
			if err := fn(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n < convertPage {
			_, err := tx.Exec(ctx, `CLOSE `+name)
			return err
		}
	}
}

func convertMeasurements(ctx context.Context, tx pgx.Tx, w *Writer) error {
	var page []projections.MeasurementRow
	flush := func() error {
		err := w.AddRaw(ctx, page, nil)
		page = page[:0]
		return err
	}
	err := eachPage(ctx, tx, "old_measurements", `
SELECT device_id, type, measured_at, value, measurement_id, recorded_at FROM rm_measurements_v1`, func(rows pgx.Rows) error {
		var (
			r        projections.MeasurementRow
			recorded *time.Time
		)
		if err := rows.Scan(&r.DeviceID, &r.Type, &r.MeasuredAt, &r.Value, &r.MeasurementID, &recorded); err != nil {
			return err
		}
		if recorded != nil {
			r.RecordedAt = *recorded
		}
		page = append(page, r)
		if len(page) == convertPage {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func convertVehicleEvents(ctx context.Context, tx pgx.Tx, w *Writer) error {
	var page []projections.VehicleEventRow
	flush := func() error {
		err := w.AddRaw(ctx, nil, page)
		page = page[:0]
		return err
	}
	err := eachPage(ctx, tx, "old_vehicle_events", `
SELECT device_id, eid, type, occurred_at, readings::text, lat, lon, data::text FROM rm_vehicle_events_v1`, func(rows pgx.Rows) error {
		var (
			r              projections.VehicleEventRow
			readings, data *string
			lat, lon       *float64
		)
		if err := rows.Scan(&r.DeviceID, &r.EID, &r.Type, &r.OccurredAt, &readings, &lat, &lon, &data); err != nil {
			return err
		}
		if readings != nil {
			if err := json.Unmarshal([]byte(*readings), &r.Readings); err != nil {
				return fmt.Errorf("readings of %s/%s: %w", r.DeviceID, r.EID, err)
			}
		}
		if lat != nil && lon != nil {
			r.Location = &domain.Location{Lat: *lat, Lon: *lon}
		}
		if data != nil {
			r.Data = []byte(*data)
		}
		page = append(page, r)
		if len(page) == convertPage {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func convertHourly(ctx context.Context, tx pgx.Tx, w *Writer) error {
	var first, last *time.Time
	if err := tx.QueryRow(ctx, `SELECT min(hour), max(hour) FROM rm_hourly_v1`).Scan(&first, &last); err != nil {
		return err
	}
	if first == nil {
		return nil
	}
	if err := w.ensurePartitions(ctx, nil, nil, []projections.HourKey{{Hour: *first}, {Hour: *last}}); err != nil {
		return err
	}
	// Partitions are made per width, so every hour between has one too.
	_, err := tx.Exec(ctx, `INSERT INTO rm_hourly SELECT * FROM rm_hourly_v1`)
	return err
}
