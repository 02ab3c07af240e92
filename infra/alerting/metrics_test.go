package alerting

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/metrics/metricstest"
)

func TestMetrics_EvaluatorLagGrowsWhileAnEventFailsAndIsZeroOnceItPasses(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	fail := true
	handle := m.instrument(func(context.Context, domain.RecordedEvent) error {
		if fail {
			return errors.New("store away")
		}
		return nil
	})
	r := domain.RecordedEvent{ID: "e1", RecordedAt: time.Now().Add(-3 * time.Second)}
	if err := handle(context.Background(), r); err == nil {
		t.Fatal("the failure was not passed on")
	}
	first, _ := metricstest.Value(t, reg, "fleetpulse_alert_evaluator_lag_seconds", nil)
	time.Sleep(20 * time.Millisecond)
	second, _ := metricstest.Value(t, reg, "fleetpulse_alert_evaluator_lag_seconds", nil)
	if first < 3 || second <= first {
		t.Fatalf("lag %v then %v while stuck: want at least 3 s, growing", first, second)
	}
	fail = false
	if err := handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want float64
	}{
		{"fleetpulse_alert_evaluator_lag_seconds", 0},
		{"fleetpulse_alert_evaluations_failed_total", 1},
		{"fleetpulse_alert_events_evaluated_total", 1},
	} {
		if got, _ := metricstest.Value(t, reg, tt.name, nil); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
}
