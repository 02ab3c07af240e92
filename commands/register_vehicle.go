package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RegisterVehicle adds a vehicle under a new id, with the hash of its token.
type RegisterVehicle struct {
	Caller    Caller                `json:"caller"`
	VID       string                `json:"vid"`
	Profile   domain.VehicleProfile `json:"profile"`
	TokenHash []byte                `json:"token_hash"`
}

// RegisterVehicleHandler lets an operator register a vehicle (see
// registerDevice).
type RegisterVehicleHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RegisterVehicleHandler) Handle(ctx context.Context, cmd *RegisterVehicle) (Outcome, error) {
	return registerDevice(ctx, h.devices, cmd.Caller, cmd.VID, func() (domain.Event, error) {
		return domain.RegisterVehicle(cmd.VID, cmd.Profile, cmd.TokenHash, h.clock())
	})
}
