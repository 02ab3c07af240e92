package alerting

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Metrics describes the alert evaluator: events evaluated, evaluations that
// failed (each is retried), and its lag: the age of the event it is
// evaluating now, 0 while it waits for the next. An evaluator stuck on one
// event therefore shows a lag that grows until it gets past it. (Events not
// yet handed to it are the forwarder's backlog: fleetpulse_projection_lag_seconds
// of the forwarder's checkpoint.)
type Metrics struct {
	evaluated prometheus.Counter
	failed    prometheus.Counter

	mu      sync.Mutex
	current time.Time // recorded time of the event in hand; zero when none
}

// NewMetrics registers the evaluator's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		evaluated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetpulse_alert_events_evaluated_total", Help: "Integration events the alert evaluator has handled."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetpulse_alert_evaluations_failed_total", Help: "Evaluations of an event that failed and were retried."}),
	}
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fleetpulse_alert_evaluator_lag_seconds",
		Help: "Age of the event the alert evaluator is evaluating now (0 while it waits for the next one).",
	}, m.lag)
	reg.MustRegister(m.evaluated, m.failed, lag)
	return m
}

func (m *Metrics) lag() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current.IsZero() {
		return 0
	}
	return time.Since(m.current).Seconds()
}

// instrument measures handle; a nil *Metrics returns it as it is.
func (m *Metrics) instrument(handle func(context.Context, domain.RecordedEvent) error) func(context.Context, domain.RecordedEvent) error {
	if m == nil {
		return handle
	}
	return func(ctx context.Context, r domain.RecordedEvent) error {
		m.mu.Lock()
		m.current = r.RecordedAt
		m.mu.Unlock()
		err := handle(ctx, r)
		if err != nil {
			m.failed.Inc()
			return err // still in hand: it is retried
		}
		m.evaluated.Inc()
		m.mu.Lock()
		m.current = time.Time{}
		m.mu.Unlock()
		return nil
	}
}
