package archivetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

func TestZZDump(t *testing.T) {
	ctx := context.Background()
	e := NewEnv(t)
	end := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	for _, bt := range VehicleHistory(10, 3*time.Hour, end) {
		if _, err := e.Store.AppendTelemetry(ctx, domain.TelemetryStream(bt.Device()), uuid.NewString(), bt); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.Create("/tmp/vdata.copy")
	defer f.Close()
	conn, _ := e.Pool.Acquire(ctx)
	defer conn.Release()
	if _, err := conn.Conn().PgConn().CopyTo(ctx, f, "COPY (SELECT data FROM events) TO STDOUT"); err != nil {
		t.Fatal(err)
	}
}
