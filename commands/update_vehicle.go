package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// UpdateVehicle replaces a vehicle's profile; with ExpectedVersion, only if
// the vehicle is still at that version.
type UpdateVehicle struct {
	Caller          Caller                `json:"caller"`
	VID             string                `json:"vid"`
	Profile         domain.VehicleProfile `json:"profile"`
	ExpectedVersion *int64                `json:"expected_version,omitempty"`
}

// UpdateVehicleHandler lets an operator change a live vehicle's profile.
type UpdateVehicleHandler struct {
	devices devices
	clock   func() time.Time
}

func (h UpdateVehicleHandler) Handle(ctx context.Context, cmd *UpdateVehicle) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.VID, func(d *domain.Device) (domain.Event, error) {
		return d.UpdateVehicle(cmd.Profile, cmd.ExpectedVersion, h.clock())
	})
}
