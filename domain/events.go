package domain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event is a fact recorded in the log. Each type is defined once here with
// its JSON shape; adapters store and read the bytes and never copy the types.
type Event interface {
	EventType() string
}

// Event type names as stored in the log. Renaming one is a migration.
const (
	TypeStationRegistered    = "StationRegistered"
	TypeStationUpdated       = "StationUpdated"
	TypeVehicleRegistered    = "VehicleRegistered"
	TypeVehicleUpdated       = "VehicleUpdated"
	TypeDeviceDecommissioned = "DeviceDecommissioned"
	TypeDeviceTokenRotated   = "DeviceTokenRotated"
	TypeDeviceTokenRevoked   = "DeviceTokenRevoked"
	TypeMeasurementRecorded  = "MeasurementRecorded"
	TypeVehicleEventRecorded = "VehicleEventRecorded"
	TypeMeasurementCorrected = "MeasurementCorrected"
	TypeMeasurementRetracted = "MeasurementRetracted"
	TypeAlertRuleSet         = "AlertRuleSet"
	TypeAlertRaised          = "AlertRaised"
	TypeAlertCleared         = "AlertCleared"
	TypeDeviceWentSilent     = "DeviceWentSilent"
	TypeDeviceResumed        = "DeviceResumed"
	TypeReadKeyCreated       = "ReadKeyCreated"
	TypeReadKeyRevoked       = "ReadKeyRevoked"
)

// EventSchemaVersion is the JSON shape version of every event type above.
// A reader that meets a higher version knows it was written by newer code.
const EventSchemaVersion = 1

type StationRegistered struct {
	StationID string `json:"station_id"`
	StationProfile
	TokenHash    []byte    `json:"token_hash"`
	RegisteredAt time.Time `json:"registered_at"`
}

type StationUpdated struct {
	StationID string `json:"station_id"`
	StationProfile
	UpdatedAt time.Time `json:"updated_at"`
}

type VehicleRegistered struct {
	VID string `json:"vid"`
	VehicleProfile
	TokenHash    []byte    `json:"token_hash"`
	RegisteredAt time.Time `json:"registered_at"`
}

type VehicleUpdated struct {
	VID string `json:"vid"`
	VehicleProfile
	UpdatedAt time.Time `json:"updated_at"`
}

type DeviceDecommissioned struct {
	DeviceID         string     `json:"device_id"`
	Kind             DeviceKind `json:"kind"`
	DecommissionedAt time.Time  `json:"decommissioned_at"`
}

type DeviceTokenRotated struct {
	DeviceID  string    `json:"device_id"`
	TokenHash []byte    `json:"token_hash"`
	RotatedAt time.Time `json:"rotated_at"`
}

// DeviceTokenRevoked leaves a device without a working token until an
// operator rotates in a new one.
type DeviceTokenRevoked struct {
	DeviceID  string    `json:"device_id"`
	RevokedAt time.Time `json:"revoked_at"`
}

// MeasurementRecorded is one station measurement: the first log format,
// read as a MeasurementsRecorded of one (see Upcast); new measurements are
// recorded in batches.
type MeasurementRecorded struct {
	StationID     string    `json:"station_id"`
	MeasurementID string    `json:"id"`
	Type          string    `json:"type"`
	Value         float64   `json:"value"`
	MeasuredAt    time.Time `json:"measured_at"`
}

// VehicleEventRecorded is one vehicle telemetry event: the first log
// format, read as a VehicleEventsRecorded of one (see Upcast).
type VehicleEventRecorded struct {
	VID        string             `json:"vid"`
	EID        string             `json:"eid"`
	Type       string             `json:"type"`
	OccurredAt time.Time          `json:"occurred_at"`
	Readings   map[string]float64 `json:"readings,omitempty"`
	Location   *Location          `json:"location,omitempty"`
	Data       json.RawMessage    `json:"data,omitempty"`
}

// MeasurementCorrected replaces the value of a recorded measurement; the
// original stays in the log. Measured names the measurement as recorded
// (its type and time) when the command side found it, so a projection can
// go straight to it; corrections recorded before it existed lack it.
type MeasurementCorrected struct {
	StationID     string    `json:"station_id"`
	MeasurementID string    `json:"id"`
	Value         float64   `json:"value"`
	Reason        string    `json:"reason"`
	Actor         string    `json:"actor"`
	CorrectedAt   time.Time `json:"corrected_at"`
	Measured      *Measured `json:"measured,omitempty"`
}

// MeasurementRetracted withdraws a recorded measurement from the read
// models; the original stays in the log.
type MeasurementRetracted struct {
	StationID     string    `json:"station_id"`
	MeasurementID string    `json:"id"`
	Reason        string    `json:"reason"`
	Actor         string    `json:"actor"`
	RetractedAt   time.Time `json:"retracted_at"`
	Measured      *Measured `json:"measured,omitempty"`
}

// Measured is a recorded measurement's type and time, as a correction names it.
type Measured struct {
	Type string    `json:"type"`
	At   time.Time `json:"at"`
}

func (StationRegistered) EventType() string    { return TypeStationRegistered }
func (StationUpdated) EventType() string       { return TypeStationUpdated }
func (VehicleRegistered) EventType() string    { return TypeVehicleRegistered }
func (VehicleUpdated) EventType() string       { return TypeVehicleUpdated }
func (DeviceDecommissioned) EventType() string { return TypeDeviceDecommissioned }
func (DeviceTokenRotated) EventType() string   { return TypeDeviceTokenRotated }
func (DeviceTokenRevoked) EventType() string   { return TypeDeviceTokenRevoked }
func (MeasurementRecorded) EventType() string  { return TypeMeasurementRecorded }
func (VehicleEventRecorded) EventType() string { return TypeVehicleEventRecorded }
func (MeasurementCorrected) EventType() string { return TypeMeasurementCorrected }
func (MeasurementRetracted) EventType() string { return TypeMeasurementRetracted }

// ErrUnknownEventType is returned by DecodeEvent for a type this code does not know.
var ErrUnknownEventType = fmt.Errorf("unknown event type")

// DecodeEvent turns stored bytes back into the event of the named type.
func DecodeEvent(eventType string, data []byte) (Event, error) {
	switch eventType {
	case TypeStationRegistered:
		return decodeAs[StationRegistered](data)
	case TypeStationUpdated:
		return decodeAs[StationUpdated](data)
	case TypeVehicleRegistered:
		return decodeAs[VehicleRegistered](data)
	case TypeVehicleUpdated:
		return decodeAs[VehicleUpdated](data)
	case TypeDeviceDecommissioned:
		return decodeAs[DeviceDecommissioned](data)
	case TypeDeviceTokenRotated:
		return decodeAs[DeviceTokenRotated](data)
	case TypeDeviceTokenRevoked:
		return decodeAs[DeviceTokenRevoked](data)
	case TypeMeasurementRecorded:
		return decodeAs[MeasurementRecorded](data)
	case TypeVehicleEventRecorded:
		return decodeAs[VehicleEventRecorded](data)
	case TypeMeasurementsRecorded:
		return decodeMeasurementsRecorded(data)
	case TypeVehicleEventsRecorded:
		return decodeVehicleEventsRecorded(data)
	case TypeMeasurementCorrected:
		return decodeAs[MeasurementCorrected](data)
	case TypeMeasurementRetracted:
		return decodeAs[MeasurementRetracted](data)
	case TypeAlertRuleSet:
		return decodeAs[AlertRuleSet](data)
	case TypeAlertRaised:
		return decodeAs[AlertRaised](data)
	case TypeAlertCleared:
		return decodeAs[AlertCleared](data)
	case TypeDeviceWentSilent:
		return decodeAs[DeviceWentSilent](data)
	case TypeDeviceResumed:
		return decodeAs[DeviceResumed](data)
	case TypeReadKeyCreated:
		return decodeAs[ReadKeyCreated](data)
	case TypeReadKeyRevoked:
		return decodeAs[ReadKeyRevoked](data)
	case TypeWebhookRegistered:
		return decodeAs[WebhookRegistered](data)
	case TypeWebhookRemoved:
		return decodeAs[WebhookRemoved](data)
	case TypeWebhookDisabled:
		return decodeAs[WebhookDisabled](data)
	case TypeWebhookEnabled:
		return decodeAs[WebhookEnabled](data)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, eventType)
}

func decodeAs[E Event](data []byte) (Event, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode %s: %w", e.EventType(), err)
	}
	return e, nil
}

// DeviceStream names the stream of a device's lifecycle events.
func DeviceStream(deviceID string) string { return "device-" + deviceID }

// TelemetryStream names the stream of a device's measurements or vehicle events.
func TelemetryStream(deviceID string) string { return "telemetry-" + deviceID }

// DeviceOfStream returns the device whose stream this is: the id in a
// device-, telemetry- or alerts- stream name; false for any other stream.
func DeviceOfStream(stream string) (string, bool) {
	for _, prefix := range []string{"telemetry-", "device-", "alerts-"} {
		if id, ok := strings.CutPrefix(stream, prefix); ok && id != "" {
			return id, true
		}
	}
	return "", false
}
