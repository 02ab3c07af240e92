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

type RegisterVehicleHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RegisterVehicleHandler) Handle(ctx context.Context, cmd *RegisterVehicle) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	e, err := domain.RegisterVehicle(cmd.VID, cmd.Profile, cmd.TokenHash, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	return registerDevice(ctx, h.devices, cmd.Caller, cmd.VID, e)
}
