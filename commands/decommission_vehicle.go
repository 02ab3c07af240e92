package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// DecommissionVehicle ends a vehicle's life: later telemetry is refused.
type DecommissionVehicle struct {
	Caller          Caller `json:"caller"`
	VID             string `json:"vid"`
	ExpectedVersion *int64 `json:"expected_version,omitempty"`
}

// DecommissionVehicleHandler lets an operator decommission a live vehicle.
type DecommissionVehicleHandler struct {
	devices devices
	clock   func() time.Time
}

func (h DecommissionVehicleHandler) Handle(ctx context.Context, cmd *DecommissionVehicle) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.VID, func(d *domain.Device) (domain.Event, error) {
		return d.Decommission(domain.KindVehicle, cmd.ExpectedVersion, h.clock())
	})
}
