package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RevokeDeviceToken takes a device's token away until an operator rotates
// a new one.
type RevokeDeviceToken struct {
	Caller   Caller `json:"caller"`
	DeviceID string `json:"device_id"`
}

// RevokeDeviceTokenHandler lets an operator revoke a live device's token.
type RevokeDeviceTokenHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RevokeDeviceTokenHandler) Handle(ctx context.Context, cmd *RevokeDeviceToken) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.DeviceID, func(d *domain.Device) (domain.Event, error) {
		return d.RevokeToken(h.clock())
	})
}
