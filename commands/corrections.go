package commands

import (
	"context"
	"fmt"

	"github.com/fleetpulse/fleetpulse/domain"
)

// appendCorrection stores an operator's correction in the station's
// telemetry stream, after checking the measurement exists when the store
// can tell.
func appendCorrection(ctx context.Context, d devices, c Caller, stationID, measurementID string, e domain.Event) (Outcome, error) {
	if err := d.requireAdmin(ctx, c); err != nil {
		return Outcome{}, err
	}
	dev, err := d.load(ctx, stationID)
	if err != nil {
		return Outcome{}, err
	}
	if !dev.IsKind(domain.KindStation) {
		return Outcome{}, fmt.Errorf("station %q: %w", stationID, domain.ErrDeviceNotFound)
	}
	if finder, ok := d.store.(EventFinder); ok {
		found, err := finder.EventExists(ctx, telemetryEventID(stationID, measurementID))
		if err != nil {
			return Outcome{}, err
		}
		if !found {
			return Outcome{}, fmt.Errorf("measurement %q of station %q: %w", measurementID, stationID, domain.ErrMeasurementNotFound)
		}
	}
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return Outcome{}, err
	}
	res, err := d.store.Append(ctx, domain.TelemetryStream(stationID), domain.AnyVersion, []domain.EventData{data})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: measurementID, Version: res.NextVersion, Accepted: 1}, nil
}
