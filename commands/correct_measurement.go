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
type CorrectMeasurementHandler struct{ corrections corrections }

func (h CorrectMeasurementHandler) Handle(ctx context.Context, cmd *CorrectMeasurement) (Outcome, error) {
	return appendCorrection(ctx, h.corrections, cmd.Caller, cmd.StationID, cmd.MeasurementID,
		func(now time.Time, measured *domain.Measured) (domain.Event, error) {
			e, err := domain.CorrectMeasurement(cmd.StationID, cmd.MeasurementID, cmd.Value, cmd.Reason, cmd.Actor, now)
			e.Measured = measured
			return e, err
		})
}
