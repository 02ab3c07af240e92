package bus

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Metrics counts what the handlers of a bus do, by command type: commands
// handled, failed (by domain error code), poisoned, in flight, and how long
// each took. A nil *Metrics counts nothing.
type Metrics struct {
	handled  *prometheus.CounterVec
	failed   *prometheus.CounterVec
	poisoned *prometheus.CounterVec
	inFlight *prometheus.GaugeVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the command bus's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_commands_handled_total", Help: "Commands whose handler came to an outcome, stored or refused, by command type."},
			[]string{"command"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_commands_failed_total", Help: "Commands handled with an error outcome, by command type and domain error code (unavailable and internal are the server's)."},
			[]string{"command", "code"}),
		poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_commands_poisoned_total", Help: "Commands moved to the poison topic after their retries (distributed bus only), by command type."},
			[]string{"command"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fleetpulse_commands_in_flight", Help: "Commands being handled now, by command type."},
			[]string{"command"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fleetpulse_command_duration_seconds", Help: "Time a handler took to come to a command's outcome, by command type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"command"}),
	}
	reg.MustRegister(m.handled, m.failed, m.poisoned, m.inFlight, m.duration)
	return m
}

// known makes the series of a command type exist from the start at zero,
// so a rate over them means "none" rather than "no data".
func (m *Metrics) known(command string) {
	if m == nil {
		return
	}
	m.handled.WithLabelValues(command)
	m.poisoned.WithLabelValues(command)
	m.inFlight.WithLabelValues(command)
}

// start counts a command in flight and returns the function that counts its
// outcome.
func (m *Metrics) start(command string) func(err error) {
	if m == nil {
		return func(error) {}
	}
	began := time.Now()
	m.inFlight.WithLabelValues(command).Inc()
	return func(err error) {
		m.inFlight.WithLabelValues(command).Dec()
		m.duration.WithLabelValues(command).Observe(time.Since(began).Seconds())
		m.handled.WithLabelValues(command).Inc()
		if err != nil {
			m.failed.WithLabelValues(command, domain.Code(err)).Inc()
		}
	}
}

// countPoisoned wraps the poison topic's publisher: each command it takes is
// counted under the handler that gave up on it.
func (m *Metrics) countPoisoned(pub message.Publisher) message.Publisher {
	if m == nil {
		return pub
	}
	return poisonCounter{Publisher: pub, m: m}
}

type poisonCounter struct {
	message.Publisher
	m *Metrics
}

func (p poisonCounter) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, msg := range msgs {
		p.m.poisoned.WithLabelValues(msg.Metadata.Get(middleware.PoisonedHandlerKey)).Inc()
	}
	return nil
}

// Option tunes an in-process bus.
type Option func(*options)

type options struct{ metrics *Metrics }

// WithMetrics counts the bus's commands on m.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }
