package commands_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// TestCommands_KeepTheirWireFormat pins the JSON of every command: commands
// travel between processes as JSON on the NATS and PostgreSQL buses, so a
// renamed field would be lost between an older sender and a newer worker.
func TestCommands_KeepTheirWireFormat(t *testing.T) {
	caller := commands.Caller{Admin: true, DeviceID: "st-1", TokenHash: []byte{1, 2}}
	expected := int64(3)
	at := time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		cmd  any
		want string
	}{
		{commands.RegisterStation{Caller: caller, ID: "st-1", Profile: stationProfile("n"), TokenHash: []byte{3}}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"id":"st-1","profile":{"name":"n","location":{"lat":50.06,"lon":19.94},"timezone":"Europe/Warsaw"},"token_hash":"Aw=="}`},
		{commands.UpdateStation{Caller: caller, ID: "st-1", Profile: stationProfile("n"), ExpectedVersion: &expected}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"id":"st-1","profile":{"name":"n","location":{"lat":50.06,"lon":19.94},"timezone":"Europe/Warsaw"},"expected_version":3}`},
		{commands.DecommissionStation{Caller: caller, ID: "st-1", ExpectedVersion: &expected}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"id":"st-1","expected_version":3}`},
		{commands.RecordMeasurements{Caller: caller, StationID: "st-1", Measurements: []domain.Measurement{{ID: "m1", Type: "pm25", Value: 1.5, MeasuredAt: at}}}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"station_id":"st-1","measurements":[{"id":"m1","type":"pm25","value":1.5,"measured_at":"2026-06-01T11:00:00Z"}]}`},
		{commands.RegisterVehicle{Caller: caller, VID: "veh-1", Profile: vehicleProfile("n"), TokenHash: []byte{3}}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"vid":"veh-1","profile":{"name":"n","vin":"1HGCM82633A004352","plate":"KR 1"},"token_hash":"Aw=="}`},
		{commands.UpdateVehicle{Caller: caller, VID: "veh-1", Profile: vehicleProfile("n"), ExpectedVersion: &expected}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"vid":"veh-1","profile":{"name":"n","vin":"1HGCM82633A004352","plate":"KR 1"},"expected_version":3}`},
		{commands.DecommissionVehicle{Caller: caller, VID: "veh-1", ExpectedVersion: &expected}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"vid":"veh-1","expected_version":3}`},
		{commands.RecordVehicleEvents{Caller: caller, VID: "veh-1", Events: []domain.VehicleEvent{{EID: "e1", Type: "t", OccurredAt: at}}}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"vid":"veh-1","events":[{"eid":"e1","type":"t","occurred_at":"2026-06-01T11:00:00Z"}]}`},
		{commands.CorrectMeasurement{Caller: caller, StationID: "st-1", MeasurementID: "m1", Value: 2, Reason: "r", Actor: "a"}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"station_id":"st-1","measurement_id":"m1","value":2,"reason":"r","actor":"a"}`},
		{commands.RetractMeasurement{Caller: caller, StationID: "st-1", MeasurementID: "m1", Reason: "r", Actor: "a"}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"station_id":"st-1","measurement_id":"m1","reason":"r","actor":"a"}`},
		{commands.RotateDeviceToken{Caller: caller, DeviceID: "st-1", TokenHash: []byte{3}}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"device_id":"st-1","token_hash":"Aw=="}`},
		{commands.RevokeDeviceToken{Caller: caller, DeviceID: "st-1"}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"device_id":"st-1"}`},
		{commands.SetAlertRule{Caller: caller, DeviceID: "st-1", Rule: "r", Type: "pm25", Above: 35, For: time.Minute}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"device_id":"st-1","rule":"r","type":"pm25","above":35,"for":60000000000}`},
		{commands.CreateReadKey{Caller: caller, KeyID: "k1", Name: "wall", Devices: []string{"st-1"}, KeyHash: []byte{3}}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"key_id":"k1","name":"wall","devices":["st-1"],"key_hash":"Aw=="}`},
		{commands.RevokeReadKey{Caller: caller, KeyID: "k1"}, `{"caller":{"admin":true,"device_id":"st-1","token_hash":"AQI="},"key_id":"k1"}`},
		{commands.UpdateStation{Caller: commands.Caller{}, ID: "st-1"}, `{"caller":{},"id":"st-1","profile":{"name":"","location":{"lat":0,"lon":0}}}`},
	} {
		got, err := json.Marshal(tc.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%T:\n got %s\nwant %s", tc.cmd, got, tc.want)
		}
	}
}
