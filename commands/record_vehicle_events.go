package commands

import (
	"context"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RecordVehicleEvents stores a batch of a vehicle's events.
type RecordVehicleEvents struct {
	Caller Caller                `json:"caller"`
	VID    string                `json:"vid"`
	Events []domain.VehicleEvent `json:"events"`
}

// RecordVehicleEventsHandler lets a vehicle, or an operator, record its
// events (see recordTelemetry); the outcome lists their eids, the ones made
// up for events sent without one included.
type RecordVehicleEventsHandler struct{ telemetry telemetry }

func (h RecordVehicleEventsHandler) Handle(ctx context.Context, cmd *RecordVehicleEvents) (Outcome, error) {
	out, eids, err := recordTelemetry(ctx, h.telemetry, cmd.Caller, cmd.VID, domain.KindVehicle, cmd.Events,
		domain.TelemetryPolicy.ValidateVehicleEvents, vehicleEventID, domain.RecordVehicleEvents)
	if err != nil {
		return Outcome{}, err
	}
	out.EIDs = eids
	return out, nil
}

func vehicleEventID(e *domain.VehicleEvent) *string { return &e.EID }
