package bus

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/metrics/metricstest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

func TestInProcessBus_CountsHandledFailedAndInFlightCommandsByType(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	app := commands.NewApplication(eventstore.New(pool, eventstore.Config{Unbatched: true}), time.Now, domain.TelemetryPolicy{MaxFutureSkew: time.Minute})
	reg := prometheus.NewRegistry()
	b, err := NewInProcess(app, testLogger(), 10*time.Second, WithMetrics(NewMetrics(reg)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if _, err := b.Dispatch(ctx, &commands.RegisterStation{Caller: commands.Caller{Admin: true}, ID: "st-1",
		Profile: domain.StationProfile{Name: "one"}, TokenHash: []byte("0123456789abcdef0123456789abcdef")}); err != nil {
		t.Fatal(err)
	}
	_, err = b.Dispatch(ctx, &commands.RecordMeasurements{Caller: commands.Caller{Admin: true}, StationID: "nope",
		Measurements: []domain.Measurement{{Type: "pm25", Value: 1, MeasuredAt: time.Now().Add(-time.Minute)}}})
	if domain.Code(err) != domain.CodeNotFound {
		t.Fatalf("unknown station: %v, want not found", err)
	}

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fleetpulse_commands_handled_total", map[string]string{"command": "RegisterStation"}, 1},
		{"fleetpulse_commands_handled_total", map[string]string{"command": "RecordMeasurements"}, 1},
		{"fleetpulse_commands_failed_total", map[string]string{"command": "RecordMeasurements", "code": domain.CodeNotFound}, 1},
		{"fleetpulse_command_duration_seconds", map[string]string{"command": "RegisterStation"}, 1},
		{"fleetpulse_commands_in_flight", map[string]string{"command": "RecordMeasurements"}, 0},
		// Every command type's series exist before its first command.
		{"fleetpulse_commands_handled_total", map[string]string{"command": "SetAlertRule"}, 0},
		{"fleetpulse_commands_poisoned_total", map[string]string{"command": "RecordMeasurements"}, 0},
	} {
		metricstest.Eventually(t, reg, tt.name, tt.labels, tt.want)
	}
	if _, found := metricstest.Value(t, reg, "fleetpulse_commands_failed_total", map[string]string{"command": "RegisterStation"}); found {
		t.Fatal("a stored command was counted as failed")
	}
}
