package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The public event feed (the read API's /v1/feed and the NATS JetStream
// subjects) carries integration events: the log's events that other
// services may see, in a versioned JSON shape of their own. One log event
// is one integration event, so a telemetry batch is one event carrying its
// items, and its log position is all a consumer needs to resume exactly.
// Events that hold secrets or operator configuration (token rotations and
// revocations, read keys, alert rules) are not published; the token hash of
// a registration is left out.

// IntegrationSchemaVersion is the version of the integration events' JSON
// shape. Fields may be added within a version; a rename or removal makes a
// new one.
const IntegrationSchemaVersion = 1

// Integration event types, as published.
const (
	FeedMeasurementsRecorded  = "measurements_recorded"
	FeedVehicleEventsRecorded = "vehicle_events_recorded"
	FeedStationRegistered     = "station_registered"
	FeedStationUpdated        = "station_updated"
	FeedVehicleRegistered     = "vehicle_registered"
	FeedVehicleUpdated        = "vehicle_updated"
	FeedDeviceDecommissioned  = "device_decommissioned"
	FeedMeasurementCorrected  = "measurement_corrected"
	FeedMeasurementRetracted  = "measurement_retracted"
	FeedAlertRaised           = "alert_raised"
	FeedAlertCleared          = "alert_cleared"
	FeedDeviceWentSilent      = "device_went_silent"
	FeedDeviceResumed         = "device_resumed"
)

// feedTypes maps a log event type to its integration event type; a type
// missing here is not published.
var feedTypes = map[string]string{
	TypeMeasurementsRecorded:  FeedMeasurementsRecorded,
	TypeMeasurementRecorded:   FeedMeasurementsRecorded,
	TypeVehicleEventsRecorded: FeedVehicleEventsRecorded,
	TypeVehicleEventRecorded:  FeedVehicleEventsRecorded,
	TypeStationRegistered:     FeedStationRegistered,
	TypeStationUpdated:        FeedStationUpdated,
	TypeVehicleRegistered:     FeedVehicleRegistered,
	TypeVehicleUpdated:        FeedVehicleUpdated,
	TypeDeviceDecommissioned:  FeedDeviceDecommissioned,
	TypeMeasurementCorrected:  FeedMeasurementCorrected,
	TypeMeasurementRetracted:  FeedMeasurementRetracted,
	TypeAlertRaised:           FeedAlertRaised,
	TypeAlertCleared:          FeedAlertCleared,
	TypeDeviceWentSilent:      FeedDeviceWentSilent,
	TypeDeviceResumed:         FeedDeviceResumed,
}

// FeedTypes lists the integration event types, sorted.
func FeedTypes() []string {
	var out []string
	for _, t := range feedTypes {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// IsFeedType says whether t is an integration event type.
func IsFeedType(t string) bool {
	for _, f := range feedTypes {
		if f == t {
			return true
		}
	}
	return false
}

// IntegrationEvent is a log event as the public feed carries it.
type IntegrationEvent struct {
	Position      string          `json:"position"` // FeedPosition of the log event
	Type          string          `json:"type"`
	DeviceID      string          `json:"device_id"`
	RecordedAt    time.Time       `json:"recorded_at"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
}

// Integration returns the integration event of a log event; ok is false
// for an event that is not published.
func Integration(r RecordedEvent) (e IntegrationEvent, ok bool, err error) {
	typ, ok := feedTypes[r.Type]
	if !ok {
		return IntegrationEvent{}, false, nil
	}
	device, ok := DeviceOfStream(r.StreamID)
	if !ok {
		return IntegrationEvent{}, false, nil
	}
	data := json.RawMessage(r.Data)
	switch r.Type {
	case TypeMeasurementRecorded, TypeVehicleEventRecorded:
		// The first log format: published in the batch shape.
		ev, err := r.Decode()
		if err != nil {
			return IntegrationEvent{}, false, err
		}
		if data, err = json.Marshal(ev); err != nil {
			return IntegrationEvent{}, false, err
		}
	case TypeStationRegistered, TypeVehicleRegistered:
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(r.Data, &fields); err != nil {
			return IntegrationEvent{}, false, fmt.Errorf("decode %s: %w", r.Type, err)
		}
		delete(fields, "token_hash")
		if data, err = json.Marshal(fields); err != nil {
			return IntegrationEvent{}, false, err
		}
	}
	return IntegrationEvent{
		Position: FeedPosition(r.Position), Type: typ, DeviceID: device,
		RecordedAt: r.RecordedAt.UTC(), SchemaVersion: IntegrationSchemaVersion, Data: data,
	}, true, nil
}

// ErrBadPosition is returned by ParseFeedPosition for text that is not a
// position FeedPosition wrote.
var ErrBadPosition = errors.New(`a position is "<commit>-<prepare>", two whole numbers without leading zeros`)

// FeedPosition writes a log position as the feed shows it:
// "<commit>-<prepare>", both decimal.
func FeedPosition(p Position) string {
	return strconv.FormatUint(p.Commit, 10) + "-" + strconv.FormatUint(p.Prepare, 10)
}

// ParseFeedPosition reads a position FeedPosition wrote, and nothing else:
// every accepted text writes back the same.
func ParseFeedPosition(s string) (Position, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Position{}, ErrBadPosition
	}
	commit, ok1 := parseCanonicalUint(a)
	prepare, ok2 := parseCanonicalUint(b)
	if !ok1 || !ok2 {
		return Position{}, ErrBadPosition
	}
	return Position{Commit: commit, Prepare: prepare}, nil
}

func parseCanonicalUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// AppendJSON appends e's JSON as json.Marshal writes it, except that Data
// is copied as it is (json.Marshal would compact it): no reflection, no
// re-checking of Data, which Integration took from the log or encoded
// itself. The feed writes many of them per page.
func (e IntegrationEvent) AppendJSON(b []byte) []byte {
	b = append(b, `{"position":`...)
	b = appendJSONString(b, e.Position)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"device_id":`...)
	b = appendJSONString(b, e.DeviceID)
	b = append(b, `,"recorded_at":"`...)
	b = e.RecordedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","schema_version":`...)
	b = strconv.AppendInt(b, int64(e.SchemaVersion), 10)
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Data...)
	}
	return append(b, '}')
}

// appendJSONString appends s quoted; text of plain printable ASCII (ids,
// types, positions: the usual case) is copied as it is.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
