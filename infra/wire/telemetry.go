package wire

import (
	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// Telemetry is a device's batch of measured data as it comes in, over HTTP
// or MQTT alike: it makes the command that records it for the device it
// was sent for.
type Telemetry interface {
	Command(caller commands.Caller, device string) any
}

// Measurements is a station's batch: the "measurements" of a body.
type Measurements []domain.Measurement

// Command records the batch for the station.
func (m Measurements) Command(caller commands.Caller, station string) any {
	return &commands.RecordMeasurements{Caller: caller, StationID: station, Measurements: m}
}

// VehicleEvents is a vehicle's batch: the "events" of a body.
type VehicleEvents []domain.VehicleEvent

// Command records the batch for the vehicle.
func (e VehicleEvents) Command(caller commands.Caller, vid string) any {
	return &commands.RecordVehicleEvents{Caller: caller, VID: vid, Events: e}
}
