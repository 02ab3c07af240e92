package commands

import (
	"context"

	"github.com/fleetpulse/fleetpulse/domain"
)

// RecordMeasurements stores a batch of a station's measurements.
type RecordMeasurements struct {
	Caller       Caller               `json:"caller"`
	StationID    string               `json:"station_id"`
	Measurements []domain.Measurement `json:"measurements"`
}

// RecordMeasurementsHandler lets a station, or an operator, record its
// measurements (see recordTelemetry).
type RecordMeasurementsHandler struct{ telemetry telemetry }

func (h RecordMeasurementsHandler) Handle(ctx context.Context, cmd *RecordMeasurements) (Outcome, error) {
	out, _, err := recordTelemetry(ctx, h.telemetry, cmd.Caller, cmd.StationID, domain.KindStation, cmd.Measurements,
		domain.TelemetryPolicy.ValidateMeasurements, measurementID, domain.RecordMeasurements)
	return out, err
}

func measurementID(m *domain.Measurement) *string { return &m.ID }
