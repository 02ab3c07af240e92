package domain

import (
	"crypto/sha1"
	"encoding/hex"
	"time"
)

// Telemetry is recorded one event per accepted batch of one device, not one
// event per item: a batch of sixty readings costs the log one row, and its
// items share the row's overhead (ids, versions, indexes). Each item keeps
// its own id, so a repeated item is still found and counted as a duplicate
// (see TelemetryItemKey).
//
// The first log format stored one event per item (MeasurementRecorded,
// VehicleEventRecorded). Logs keep those events forever; RecordedEvent.Decode
// upcasts each to a batch of one, so readers handle one shape only.

// Event type names of the batch events.
const (
	TypeMeasurementsRecorded  = "MeasurementsRecorded"
	TypeVehicleEventsRecorded = "VehicleEventsRecorded"
)

// MeasurementsRecorded is a batch of a station's measurements, every item
// with its id (the device's, or one the command side assigned) and its
// measured time in UTC.
type MeasurementsRecorded struct {
	StationID    string        `json:"station_id"`
	Measurements []Measurement `json:"measurements"`
}

// VehicleEventsRecorded is a batch of a vehicle's telemetry events, every
// item with its eid and its time in UTC.
type VehicleEventsRecorded struct {
	VID    string         `json:"vid"`
	Events []VehicleEvent `json:"events"`
}

func (MeasurementsRecorded) EventType() string  { return TypeMeasurementsRecorded }
func (VehicleEventsRecorded) EventType() string { return TypeVehicleEventsRecorded }

// TelemetryBatch is a batch event of items that carry ids of their own: an
// event store keeps each item id of a device once (see TelemetryItemKey).
type TelemetryBatch interface {
	Event
	// Device is the station or vehicle the items belong to.
	Device() string
	// ItemIDs are the items' ids, in batch order.
	ItemIDs() []string
	// ItemTimes are the items' measured or occurred times, in batch order.
	ItemTimes() []time.Time
	// Select returns the batch of the items at idx, in that order.
	Select(idx []int) TelemetryBatch
}

func (b MeasurementsRecorded) Device() string { return b.StationID }

func (b MeasurementsRecorded) ItemIDs() []string {
	ids := make([]string, len(b.Measurements))
	for i, m := range b.Measurements {
		ids[i] = m.ID
	}
	return ids
}

func (b MeasurementsRecorded) ItemTimes() []time.Time {
	ts := make([]time.Time, len(b.Measurements))
	for i, m := range b.Measurements {
		ts[i] = m.MeasuredAt
	}
	return ts
}

func (b MeasurementsRecorded) Select(idx []int) TelemetryBatch {
	out := MeasurementsRecorded{StationID: b.StationID, Measurements: make([]Measurement, len(idx))}
	for i, j := range idx {
		out.Measurements[i] = b.Measurements[j]
	}
	return out
}

func (b VehicleEventsRecorded) Device() string { return b.VID }

func (b VehicleEventsRecorded) ItemIDs() []string {
	ids := make([]string, len(b.Events))
	for i, e := range b.Events {
		ids[i] = e.EID
	}
	return ids
}

func (b VehicleEventsRecorded) ItemTimes() []time.Time {
	ts := make([]time.Time, len(b.Events))
	for i, e := range b.Events {
		ts[i] = e.OccurredAt
	}
	return ts
}

func (b VehicleEventsRecorded) Select(idx []int) TelemetryBatch {
	out := VehicleEventsRecorded{VID: b.VID, Events: make([]VehicleEvent, len(idx))}
	for i, j := range idx {
		out.Events[i] = b.Events[j]
	}
	return out
}

// RecordMeasurements turns a validated batch into its event; items keep
// the ids they carry (the caller fills in missing ones).
func RecordMeasurements(stationID string, ms []Measurement) MeasurementsRecorded {
	out := MeasurementsRecorded{StationID: stationID, Measurements: make([]Measurement, len(ms))}
	for i, m := range ms {
		m.MeasuredAt = m.MeasuredAt.UTC()
		out.Measurements[i] = m
	}
	return out
}

// RecordVehicleEvents turns a validated batch into its event; items keep
// the eids they carry (the caller fills in missing ones).
func RecordVehicleEvents(vid string, es []VehicleEvent) VehicleEventsRecorded {
	out := VehicleEventsRecorded{VID: vid, Events: make([]VehicleEvent, len(es))}
	for i, e := range es {
		r := e.Recorded(vid)
		out.Events[i] = VehicleEvent{EID: r.EID, Type: r.Type, OccurredAt: r.OccurredAt, Readings: r.Readings, Location: r.Location, Data: r.Data}
	}
	return out
}

// telemetryNamespace scopes telemetry item keys, so one device's item ids
// never collide with another's.
var telemetryNamespace = [16]byte{0x6f, 0x0b, 0x1f, 0x38, 0x3f, 0x5c, 0x4b, 0x43, 0x9d, 0x7a, 0x6a, 0x4f, 0x0d, 0x1e, 0x2c, 0x55}

// TelemetryItemKey is the identity of a device's telemetry item in the log:
// a name-based UUID (RFC 9562, version 5) of "<device>/<item id>". The first
// log format used it as the event id of each item's event; the batch format
// keeps it as the item's de-duplication key, so ids recorded in either
// format are duplicates of each other.
func TelemetryItemKey(deviceID, itemID string) string {
	h := sha1.New()
	h.Write(telemetryNamespace[:])
	h.Write([]byte(deviceID + "/" + itemID))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	return string(s[:])
}

// TelemetryItemKeys returns the keys of every item of a batch, in order.
func TelemetryItemKeys(b TelemetryBatch) []string {
	ids := b.ItemIDs()
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = TelemetryItemKey(b.Device(), id)
	}
	return keys
}

// Upcast returns e in the current shape of its kind: an event of the first
// log format (one telemetry item per event) becomes a batch of one. Other
// events are returned as they are.
func Upcast(e Event) Event {
	switch e := e.(type) {
	case MeasurementRecorded:
		return MeasurementsRecorded{StationID: e.StationID, Measurements: []Measurement{{ID: e.MeasurementID, Type: e.Type, Value: e.Value, MeasuredAt: e.MeasuredAt}}}
	case VehicleEventRecorded:
		return VehicleEventsRecorded{VID: e.VID, Events: []VehicleEvent{{EID: e.EID, Type: e.Type, OccurredAt: e.OccurredAt, Readings: e.Readings, Location: e.Location, Data: e.Data}}}
	}
	return e
}
