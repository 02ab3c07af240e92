package mqttbridge_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/infra/metrics/metricstest"
	"github.com/fleetpulse/fleetpulse/infra/mqttbridge"
)

func TestBridge_CountsReceivedAckedRefusedAndRetriedMessages(t *testing.T) {
	e := newEnv(t)
	f := &flaky{next: e.bus}
	f.failures.Store(2)
	reg := prometheus.NewRegistry()
	startBridge(t, e, f, mqttbridge.Config{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		Metrics: mqttbridge.NewMetrics(reg)})
	_, token, dev := e.enrol(t, false)

	dev.publish(t, "measurements", measurements(token, "stored", uuid.NewString()))
	if r := dev.result(t, "stored"); r["accepted"] != 1.0 {
		t.Fatalf("result %v, want accepted 1", r)
	}
	dev.publish(t, "measurements", measurements("not-a-token", "refused", uuid.NewString()))
	if r := dev.result(t, "refused"); errorCode(r) != "unauthorized" {
		t.Fatalf("result %v, want unauthorized", r)
	}
	kind := map[string]string{"kind": "measurements"}
	metricstest.Eventually(t, reg, "fleetpulse_mqtt_messages_received_total", kind, 2)
	metricstest.Eventually(t, reg, "fleetpulse_mqtt_messages_acked_total", kind, 2)
	metricstest.Eventually(t, reg, "fleetpulse_mqtt_messages_refused_total", map[string]string{"kind": "measurements", "code": "unauthorized"}, 1)
	metricstest.Eventually(t, reg, "fleetpulse_mqtt_dispatch_retries_total", kind, 2)
	metricstest.Eventually(t, reg, "fleetpulse_mqtt_messages_received_total", map[string]string{"kind": "events"}, 0)
}
