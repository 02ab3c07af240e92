package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ProjectionStatus is where one checkpoint stands against the event log.
type ProjectionStatus struct {
	Name   string
	Events int64 // applied since the projection started from the beginning of the log
	// BacklogKnown says whether Behind and OldestWait were counted: only
	// with an event log that can count them.
	BacklogKnown bool
	Behind       int64         // events in the log after the checkpoint
	OldestWait   time.Duration // age of the oldest event not yet applied
}

// Statuses reports where every checkpoint stands against the event log.
type Statuses func(ctx context.Context) ([]ProjectionStatus, error)

// NewProjectionCollector describes every checkpoint (the read models', the
// alerting forwarder's, a rebuild's shadow while one runs) by name, asking
// statuses at each scrape: the age of the oldest event it has yet to apply
// (0 when it is at the head of the log), how many events it has yet to
// apply, and how many it applied. Measured against the head at each
// scrape, the lag of a projector that stopped moving keeps growing, which a
// gauge it set itself after each batch never would. An event log that
// cannot count its backlog (EventStoreDB) yields only the applied count.
func NewProjectionCollector(statuses Statuses, timeout time.Duration, logger *slog.Logger) prometheus.Collector {
	labels := []string{"projection"}
	lag := prometheus.NewDesc("fleetpulse_projection_lag_seconds",
		"Age of the oldest event in the log that the projection (or the forwarder) has not applied yet; 0 at the head of the log.", labels, nil)
	behind := prometheus.NewDesc("fleetpulse_projection_events_behind",
		"Events in the log after the projection's checkpoint.", labels, nil)
	applied := prometheus.NewDesc("fleetpulse_projection_applied_events",
		"Events the projection has applied since it started from the beginning of the log.", labels, nil)
	return &queryCollector[ProjectionStatus]{
		descs: []*prometheus.Desc{lag, behind, applied}, query: statuses, timeout: timeout, logger: logger, what: "projection lag",
		emit: func(s ProjectionStatus, ch chan<- prometheus.Metric) {
			ch <- gauge(applied, float64(s.Events), s.Name)
			if s.BacklogKnown {
				ch <- gauge(lag, s.OldestWait.Seconds(), s.Name)
				ch <- gauge(behind, float64(s.Behind), s.Name)
			}
		},
	}
}
