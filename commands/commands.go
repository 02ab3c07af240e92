// Package commands holds fleetpulse's write side: one command type and one
// handler per use case. A handler loads what its decision needs, lets the
// domain decide, and appends the resulting events to the event store.
package commands

import (
	"context"
	"errors"

	"github.com/fleetpulse/fleetpulse/domain"
)

// EventStore is what handlers need from an event store.
type EventStore interface {
	// Append stores events at the end of stream if the stream is at
	// expectedVersion (domain.AnyVersion: no check). Events whose id is already
	// stored are reported in the result and not stored again. A stale
	// expectedVersion fails with domain.ErrVersionConflict.
	Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error)
	// ReadStream returns a stream's events in order; none for a missing stream.
	ReadStream(ctx context.Context, stream string) ([]domain.RecordedEvent, error)
}

// EventFinder is an optional capability of an event store: whether an event
// id is stored. With it, a correction of a measurement never recorded is
// refused; without it, such a correction is stored and changes nothing.
type EventFinder interface {
	EventExists(ctx context.Context, id string) (bool, error)
}

// Caller is who sends a command. Token secrets never travel with a command:
// the edge hashes them.
type Caller struct {
	Admin     bool   `json:"admin,omitempty"`
	DeviceID  string `json:"device_id,omitempty"`
	TokenHash []byte `json:"token_hash,omitempty"`
}

type RegisterStation struct {
	Caller    Caller                `json:"caller"`
	ID        string                `json:"id"`
	Profile   domain.StationProfile `json:"profile"`
	TokenHash []byte                `json:"token_hash"`
}

type UpdateStation struct {
	Caller          Caller                `json:"caller"`
	ID              string                `json:"id"`
	Profile         domain.StationProfile `json:"profile"`
	ExpectedVersion *int64                `json:"expected_version,omitempty"`
}

type DecommissionStation struct {
	Caller          Caller `json:"caller"`
	ID              string `json:"id"`
	ExpectedVersion *int64 `json:"expected_version,omitempty"`
}

type RecordMeasurements struct {
	Caller       Caller               `json:"caller"`
	StationID    string               `json:"station_id"`
	Measurements []domain.Measurement `json:"measurements"`
}

type RegisterVehicle struct {
	Caller    Caller                `json:"caller"`
	VID       string                `json:"vid"`
	Profile   domain.VehicleProfile `json:"profile"`
	TokenHash []byte                `json:"token_hash"`
}

type UpdateVehicle struct {
	Caller          Caller                `json:"caller"`
	VID             string                `json:"vid"`
	Profile         domain.VehicleProfile `json:"profile"`
	ExpectedVersion *int64                `json:"expected_version,omitempty"`
}

type DecommissionVehicle struct {
	Caller          Caller `json:"caller"`
	VID             string `json:"vid"`
	ExpectedVersion *int64 `json:"expected_version,omitempty"`
}

type RecordVehicleEvents struct {
	Caller Caller                `json:"caller"`
	VID    string                `json:"vid"`
	Events []domain.VehicleEvent `json:"events"`
}

type CorrectMeasurement struct {
	Caller        Caller  `json:"caller"`
	StationID     string  `json:"station_id"`
	MeasurementID string  `json:"measurement_id"`
	Value         float64 `json:"value"`
	Reason        string  `json:"reason"`
	Actor         string  `json:"actor"`
}

type RetractMeasurement struct {
	Caller        Caller `json:"caller"`
	StationID     string `json:"station_id"`
	MeasurementID string `json:"measurement_id"`
	Reason        string `json:"reason"`
	Actor         string `json:"actor"`
}

type RevokeDeviceToken struct {
	Caller   Caller `json:"caller"`
	DeviceID string `json:"device_id"`
}

type RotateDeviceToken struct {
	Caller    Caller `json:"caller"`
	DeviceID  string `json:"device_id"`
	TokenHash []byte `json:"token_hash"`
}

// Outcome is what a handler tells its caller, in a shape that survives a
// message bus: a failure travels as its domain code and message.
type Outcome struct {
	ID         string   `json:"id,omitempty"`
	Version    int64    `json:"version"`
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	EIDs       []string `json:"eids,omitempty"`

	ErrCode    string                  `json:"err_code,omitempty"`
	ErrMessage string                  `json:"err_message,omitempty"`
	Invalid    *domain.ValidationError `json:"invalid,omitempty"`
}

// Err returns the failure the outcome carries, with its domain sentinel.
func (o Outcome) Err() error {
	if o.ErrCode == "" {
		return nil
	}
	if o.Invalid != nil {
		return o.Invalid
	}
	return domain.ErrorFromCode(o.ErrCode, o.ErrMessage)
}

// Failed records err in the outcome; a validation error keeps its details.
func Failed(err error) Outcome {
	out := Outcome{ErrCode: domain.Code(err), ErrMessage: err.Error()}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		out.Invalid = ve
	}
	return out
}
