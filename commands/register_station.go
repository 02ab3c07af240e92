package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RegisterStation adds a station under a new id, with the hash of its token.
type RegisterStation struct {
	Caller    Caller                `json:"caller"`
	ID        string                `json:"id"`
	Profile   domain.StationProfile `json:"profile"`
	TokenHash []byte                `json:"token_hash"`
}

// RegisterStationHandler lets an operator register a station (see
// registerDevice).
type RegisterStationHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RegisterStationHandler) Handle(ctx context.Context, cmd *RegisterStation) (Outcome, error) {
	return registerDevice(ctx, h.devices, cmd.Caller, cmd.ID, func() (domain.Event, error) {
		return domain.RegisterStation(cmd.ID, cmd.Profile, cmd.TokenHash, h.clock())
	})
}
