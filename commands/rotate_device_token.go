package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RotateDeviceToken gives a device a new token; the old one stops working.
type RotateDeviceToken struct {
	Caller    Caller `json:"caller"`
	DeviceID  string `json:"device_id"`
	TokenHash []byte `json:"token_hash"`
}

// RotateDeviceTokenHandler lets an operator replace a live device's token.
type RotateDeviceTokenHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RotateDeviceTokenHandler) Handle(ctx context.Context, cmd *RotateDeviceToken) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.DeviceID, func(d *domain.Device) (domain.Event, error) {
		return d.RotateToken(d.Kind(), cmd.TokenHash, h.clock())
	})
}
