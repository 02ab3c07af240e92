package archivetest

import (
	"encoding/json"
	"testing"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

type readmodelRaw = readmodel.RawMeasurement

// canonical is an event as JSON, whatever the spelling it was stored in.
func canonical(t *testing.T, e domain.Event) string {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
