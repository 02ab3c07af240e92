package mqttbridge

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts the bridge's messages by kind (measurements, events; other
// for a topic the bridge does not serve): received, acknowledged (their
// outcome was final), refused (by error code: reported to the device and
// acknowledged, never stored), and dispatch attempts retried after a
// transient failure. Received but never acknowledged means the bridge
// stopped while the message's retries went on: the broker delivers it
// again. A nil *Metrics counts nothing.
type Metrics struct {
	received *prometheus.CounterVec
	acked    *prometheus.CounterVec
	refused  *prometheus.CounterVec
	retried  *prometheus.CounterVec
}

// NewMetrics registers the bridge's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	kind := []string{"kind"}
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_mqtt_messages_received_total", Help: "MQTT messages the bridge took from the broker, by kind."}, kind),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_mqtt_messages_acked_total", Help: "MQTT messages acknowledged to the broker once their outcome was final, by kind."}, kind),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_mqtt_messages_refused_total", Help: "MQTT messages refused (reported on the results topic, not stored), by kind and error code."},
			[]string{"kind", "code"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_mqtt_dispatch_retries_total", Help: "Commands the bridge sent again after a transient failure, by kind."}, kind),
	}
	reg.MustRegister(m.received, m.acked, m.refused, m.retried)
	for _, k := range []string{"measurements", "events"} {
		m.received.WithLabelValues(k)
		m.acked.WithLabelValues(k)
		m.retried.WithLabelValues(k)
	}
	return m
}

// The counting methods do nothing on a nil *Metrics.

func (m *Metrics) receivedOne(kind string) {
	if m != nil {
		m.received.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) ackedOne(kind string) {
	if m != nil {
		m.acked.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) refusedOne(kind, code string) {
	if m != nil {
		m.refused.WithLabelValues(kind, code).Inc()
	}
}

func (m *Metrics) retriedOne(kind string) {
	if m != nil {
		m.retried.WithLabelValues(kind).Inc()
	}
}
