package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// corrections is what the correction and retraction handlers hold.
type corrections struct {
	devices devices
	clock   func() time.Time
	policy  domain.TelemetryPolicy
}

// appendCorrection stores an operator's correction or retraction (decided
// by decide, given the measurement as recorded when the store can find it)
// in the station's telemetry stream. A store that can find items refuses a
// correction of a measurement never recorded, or one past the correction
// window.
func appendCorrection(ctx context.Context, c corrections, caller Caller, stationID, measurementID string,
	decide func(now time.Time, measured *domain.Measured) (domain.Event, error),
) (Outcome, error) {
	now := c.clock()
	// Input errors first, as every other command does.
	if _, err := decide(now, nil); err != nil {
		return Outcome{}, err
	}
	if err := c.devices.requireAdmin(ctx, caller); err != nil {
		return Outcome{}, err
	}
	dev, err := c.devices.load(ctx, stationID)
	if err != nil {
		return Outcome{}, err
	}
	if !dev.IsKind(domain.KindStation) {
		return Outcome{}, fmt.Errorf("station %q: %w", stationID, domain.ErrDeviceNotFound)
	}
	var measured *domain.Measured
	if finder, ok := c.devices.store.(ItemFinder); ok {
		measured, err = findMeasurement(ctx, finder, stationID, measurementID)
		if err != nil {
			return Outcome{}, err
		}
		if err := c.policy.CheckCorrectable(measurementID, measured.At, now); err != nil {
			return Outcome{}, err
		}
	}
	e, err := decide(now, measured)
	if err != nil {
		return Outcome{}, err
	}
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return Outcome{}, err
	}
	res, err := c.devices.store.Append(ctx, domain.TelemetryStream(stationID), domain.AnyVersion, []domain.EventData{data})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: measurementID, Version: res.NextVersion, Accepted: 1}, nil
}

// findMeasurement returns the type and time of a station's recorded
// measurement, or ErrMeasurementNotFound.
func findMeasurement(ctx context.Context, finder ItemFinder, stationID, measurementID string) (*domain.Measured, error) {
	notFound := fmt.Errorf("measurement %q of station %q: %w", measurementID, stationID, domain.ErrMeasurementNotFound)
	rec, found, err := finder.FindTelemetryItem(ctx, domain.TelemetryStream(stationID), measurementID, telemetryEventID(stationID, measurementID))
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound
	}
	e, err := rec.Decode()
	if err != nil {
		return nil, fmt.Errorf("read the event holding measurement %q: %w", measurementID, err)
	}
	if batch, ok := e.(domain.MeasurementsRecorded); ok {
		for _, m := range batch.Measurements {
			if m.ID == measurementID {
				return &domain.Measured{Type: m.Type, At: m.MeasuredAt}, nil
			}
		}
	}
	return nil, notFound
}
