package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// DecommissionStation ends a station's life: later telemetry is refused.
type DecommissionStation struct {
	Caller          Caller `json:"caller"`
	ID              string `json:"id"`
	ExpectedVersion *int64 `json:"expected_version,omitempty"`
}

// DecommissionStationHandler lets an operator decommission a live station.
type DecommissionStationHandler struct {
	devices devices
	clock   func() time.Time
}

func (h DecommissionStationHandler) Handle(ctx context.Context, cmd *DecommissionStation) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.ID, func(d *domain.Device) (domain.Event, error) {
		return d.Decommission(domain.KindStation, cmd.ExpectedVersion, h.clock())
	})
}
