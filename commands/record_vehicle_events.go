package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RecordVehicleEvents stores a batch of a vehicle's events.
type RecordVehicleEvents struct {
	Caller Caller                `json:"caller"`
	VID    string                `json:"vid"`
	Events []domain.VehicleEvent `json:"events"`
}

type RecordVehicleEventsHandler struct {
	devices devices
	clock   func() time.Time
	policy  domain.TelemetryPolicy
}

// Handle appends a batch of vehicle events; like measurements, without
// reading telemetry history.
func (h RecordVehicleEventsHandler) Handle(ctx context.Context, cmd *RecordVehicleEvents) (Outcome, error) {
	dev, err := h.devices.loadForWrite(ctx, cmd.Caller, cmd.VID)
	if err != nil {
		return Outcome{}, err
	}
	if err := dev.AcceptsTelemetry(domain.KindVehicle); err != nil {
		return Outcome{}, err
	}
	if err := h.policy.ValidateVehicleEvents(cmd.Events, h.clock()); err != nil {
		return Outcome{}, err
	}
	events := make([]domain.EventData, len(cmd.Events))
	eids := make([]string, len(cmd.Events))
	for i, e := range cmd.Events {
		if e.EID == "" {
			e.EID = newID()
		}
		eids[i] = e.EID
		data, err := domain.NewEventData(telemetryEventID(dev.ID(), e.EID), e.Recorded(dev.ID()))
		if err != nil {
			return Outcome{}, err
		}
		events[i] = data
	}
	res, err := h.devices.store.Append(ctx, domain.TelemetryStream(dev.ID()), domain.AnyVersion, events)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: dev.ID(), Version: res.NextVersion, Accepted: len(events) - len(res.Duplicates), Duplicates: len(res.Duplicates), EIDs: eids}, nil
}
