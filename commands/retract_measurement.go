package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RetractMeasurement withdraws a recorded measurement, with the operator's
// reason.
type RetractMeasurement struct {
	Caller        Caller `json:"caller"`
	StationID     string `json:"station_id"`
	MeasurementID string `json:"measurement_id"`
	Reason        string `json:"reason"`
	Actor         string `json:"actor"`
}

// RetractMeasurementHandler lets an operator retract a station's measurement
// (see appendCorrection).
type RetractMeasurementHandler struct{ corrections corrections }

func (h RetractMeasurementHandler) Handle(ctx context.Context, cmd *RetractMeasurement) (Outcome, error) {
	return appendCorrection(ctx, h.corrections, cmd.Caller, cmd.StationID, cmd.MeasurementID,
		func(now time.Time, measured *domain.Measured) (domain.Event, error) {
			e, err := domain.RetractMeasurement(cmd.StationID, cmd.MeasurementID, cmd.Reason, cmd.Actor, now)
			e.Measured = measured
			return e, err
		})
}
