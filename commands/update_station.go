package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// UpdateStation replaces a station's profile; with ExpectedVersion, only if
// the station is still at that version.
type UpdateStation struct {
	Caller          Caller                `json:"caller"`
	ID              string                `json:"id"`
	Profile         domain.StationProfile `json:"profile"`
	ExpectedVersion *int64                `json:"expected_version,omitempty"`
}

// UpdateStationHandler lets an operator change a live station's profile.
type UpdateStationHandler struct {
	devices devices
	clock   func() time.Time
}

func (h UpdateStationHandler) Handle(ctx context.Context, cmd *UpdateStation) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.ID, func(d *domain.Device) (domain.Event, error) {
		return d.UpdateStation(cmd.Profile, cmd.ExpectedVersion, h.clock())
	})
}
