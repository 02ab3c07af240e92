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
type RetractMeasurementHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RetractMeasurementHandler) Handle(ctx context.Context, cmd *RetractMeasurement) (Outcome, error) {
	e, err := domain.RetractMeasurement(cmd.StationID, cmd.MeasurementID, cmd.Reason, cmd.Actor, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	return appendCorrection(ctx, h.devices, cmd.Caller, cmd.StationID, cmd.MeasurementID, e)
}
