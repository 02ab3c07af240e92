package eventstore

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// batchMetrics describes group commit: how many appends and events each
// shared transaction carries, and how long an append waits in the queue
// for its transaction to begin.
type batchMetrics struct {
	requests prometheus.Histogram
	events   prometheus.Histogram
	wait     prometheus.Histogram
}

// Collectors are the store's own series, for the registry of the process
// that appends through it: group commit's batch sizes and queue wait (none
// when the store is Unbatched).
func (s *Store) Collectors() []prometheus.Collector {
	if s.batcher == nil {
		return nil
	}
	m := s.batcher.metrics
	return []prometheus.Collector{m.requests, m.events, m.wait}
}

func newBatchMetrics() *batchMetrics {
	return &batchMetrics{
		requests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fleetpulse_eventstore_batch_appends", Help: "Appends that shared one transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		events: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fleetpulse_eventstore_batch_events", Help: "Events (telemetry items counted one by one) written by one shared transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fleetpulse_eventstore_batch_wait_seconds", Help: "Time an append waited in the group-commit queue before its transaction began.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}),
	}
}

// observe records a batch whose transaction begins now.
func (m *batchMetrics) observe(batch []*appendRequest) {
	now, events := time.Now(), 0
	for _, r := range batch {
		events += r.size()
		m.wait.Observe(now.Sub(r.queuedAt).Seconds())
	}
	m.requests.Observe(float64(len(batch)))
	m.events.Observe(float64(events))
}
