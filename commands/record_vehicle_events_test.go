package commands_test

import (
	"testing"

	"github.com/fleetpulse/fleetpulse/domain"
)

// TestRecordVehicleEvents_TheOutcomeListsEveryEIDInBatchOrder: the eids the
// vehicle sent, and the ones made up for events without one, so the vehicle
// can refer to each event later.
func TestRecordVehicleEvents_TheOutcomeListsEveryEIDInBatchOrder(t *testing.T) {
	f := newFixture(t)
	out := f.must(f.recordVehicleEvents(device(vehicleA), vehicleA, speed("e-1", 50), speed("", 60), speed("e-3", 70)))
	if len(out.EIDs) != 3 || out.EIDs[0] != "e-1" || out.EIDs[1] == "" || out.EIDs[2] != "e-3" {
		t.Fatalf("eids %v, want [e-1 <made up> e-3]", out.EIDs)
	}
	stored := f.items(domain.TelemetryStream(vehicleA))
	if len(stored) != 3 || stored[1].(domain.VehicleEventRecorded).EID != out.EIDs[1] {
		t.Fatalf("stored %+v, want the made-up eid %s on the second event", stored, out.EIDs[1])
	}
}
