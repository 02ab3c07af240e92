package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// CorrectMeasurement replaces the value of a recorded measurement, with the
// operator's reason.
type CorrectMeasurement struct {
	Caller        Caller  `json:"caller"`
	StationID     string  `json:"station_id"`
	MeasurementID string  `json:"measurement_id"`
	Value         float64 `json:"value"`
	Reason        string  `json:"reason"`
	Actor         string  `json:"actor"`
}

// CorrectMeasurementHandler lets an operator correct a station's measurement
// (see appendCorrection).
type CorrectMeasurementHandler struct {
	devices devices
	clock   func() time.Time
}

func (h CorrectMeasurementHandler) Handle(ctx context.Context, cmd *CorrectMeasurement) (Outcome, error) {
	e, err := domain.CorrectMeasurement(cmd.StationID, cmd.MeasurementID, cmd.Value, cmd.Reason, cmd.Actor, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	return appendCorrection(ctx, h.devices, cmd.Caller, cmd.StationID, cmd.MeasurementID, e)
}
