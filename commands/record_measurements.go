package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RecordMeasurements stores a batch of a station's measurements.
type RecordMeasurements struct {
	Caller       Caller               `json:"caller"`
	StationID    string               `json:"station_id"`
	Measurements []domain.Measurement `json:"measurements"`
}

type RecordMeasurementsHandler struct {
	devices devices
	clock   func() time.Time
	policy  domain.TelemetryPolicy
}

// Handle appends a batch of measurements. It reads only the short device
// stream, never the telemetry already recorded.
func (h RecordMeasurementsHandler) Handle(ctx context.Context, cmd *RecordMeasurements) (Outcome, error) {
	dev, err := h.devices.loadForWrite(ctx, cmd.Caller, cmd.StationID)
	if err != nil {
		return Outcome{}, err
	}
	if err := dev.AcceptsTelemetry(domain.KindStation); err != nil {
		return Outcome{}, err
	}
	if err := h.policy.ValidateMeasurements(cmd.Measurements, h.clock()); err != nil {
		return Outcome{}, err
	}
	events := make([]domain.EventData, len(cmd.Measurements))
	for i, m := range cmd.Measurements {
		if m.ID == "" {
			m.ID = newID()
		}
		data, err := domain.NewEventData(telemetryEventID(dev.ID(), m.ID), m.Recorded(dev.ID()))
		if err != nil {
			return Outcome{}, err
		}
		events[i] = data
	}
	res, err := h.devices.store.Append(ctx, domain.TelemetryStream(dev.ID()), domain.AnyVersion, events)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: dev.ID(), Version: res.NextVersion, Accepted: len(events) - len(res.Duplicates), Duplicates: len(res.Duplicates)}, nil
}
