package domain

import (
	"bytes"
	"encoding/json"
	"testing"
)

var eventTypes = []string{
	TypeStationRegistered, TypeStationUpdated, TypeVehicleRegistered, TypeVehicleUpdated,
	TypeDeviceDecommissioned, TypeDeviceTokenRotated, TypeDeviceTokenRevoked,
	TypeMeasurementRecorded, TypeVehicleEventRecorded, TypeMeasurementCorrected, TypeMeasurementRetracted,
	TypeMeasurementsRecorded, TypeVehicleEventsRecorded,
	TypeAlertRuleSet, TypeAlertRaised, TypeAlertCleared, TypeDeviceWentSilent, TypeDeviceResumed,
	TypeReadKeyCreated, TypeReadKeyRevoked,
}

// FuzzDecodeEvent drives the decoder of stored events, which read them back
// from PostgreSQL or over the network from EventStoreDB: no input may panic,
// a decoded event says its own type, and encoding is stable (what a decoded
// event encodes to decodes and encodes to the same bytes), so an event copied
// between stores or rebuilt from the log stays the same event.
func FuzzDecodeEvent(f *testing.F) {
	for _, typ := range eventTypes {
		f.Add(typ, []byte(`{}`))
		f.Add(typ, []byte(`{"device_id": "st-1", "at": "2026-06-01T11:00:00Z", "value": 1.5, "data": {"a": [1, null]}}`))
	}
	f.Add(TypeMeasurementRecorded, []byte(`{"measured_at": "9999-12-31T23:59:59.999999999+14:00"}`))
	f.Add(TypeVehicleEventRecorded, []byte(`{"data": "\u0000\ud800"}`))
	f.Add("NoSuchEvent", []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e, err := DecodeEvent(typ, data)
		if err != nil {
			return
		}
		if e.EventType() != typ {
			t.Fatalf("decoded a %s as %s", typ, e.EventType())
		}
		once, err := json.Marshal(e)
		if err != nil {
			return // a value JSON cannot hold (a time beyond year 9999, say) is refused on the way out
		}
		again, err := DecodeEvent(typ, once)
		if err != nil {
			t.Fatalf("%s: its own encoding %s does not decode: %v", typ, once, err)
		}
		twice, err := json.Marshal(again)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("%s: encoding is not stable:\n%s\n%s (%v)", typ, once, twice, err)
		}
	})
}
