package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

// Statuses reports where every checkpoint stands against the event log:
// readmodel.Statuses with the store's backlog.
type Statuses func(ctx context.Context) ([]readmodel.ProjectionStatus, error)

// projectionCollector asks, at each scrape, how far every checkpoint is
// behind the head of the log. A projector that stops moving therefore shows
// a lag that keeps growing, which a gauge it set itself after each batch
// never would.
type projectionCollector struct {
	statuses Statuses
	timeout  time.Duration
	logger   *slog.Logger

	lag, behind, applied *prometheus.Desc
}

// NewProjectionCollector describes every checkpoint (the read models', the
// alerting forwarder's, a rebuild's shadow while one runs) by name: the age
// of the oldest event it has yet to apply (0 when it is at the head), how
// many events it has yet to apply, and how many it applied. Each scrape
// asks statuses within timeout; when that fails, the scrape goes on without
// these series and the failure is logged. An event log that cannot count
// its backlog (EventStoreDB) yields only the applied count.
func NewProjectionCollector(statuses Statuses, timeout time.Duration, logger *slog.Logger) prometheus.Collector {
	labels := []string{"projection"}
	return &projectionCollector{statuses: statuses, timeout: timeout, logger: logger,
		lag: prometheus.NewDesc("fleetpulse_projection_lag_seconds",
			"Age of the oldest event in the log that the projection (or the forwarder) has not applied yet; 0 at the head of the log.", labels, nil),
		behind: prometheus.NewDesc("fleetpulse_projection_events_behind",
			"Events in the log after the projection's checkpoint.", labels, nil),
		applied: prometheus.NewDesc("fleetpulse_projection_applied_events",
			"Events the projection has applied since it started from the beginning of the log.", labels, nil),
	}
}

func (c *projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.behind
	ch <- c.applied
}

func (c *projectionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	sts, err := c.statuses(ctx)
	if err != nil {
		c.logger.Warn("projection lag not measured for this scrape", "err", err)
		return
	}
	for _, s := range sts {
		ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(s.Events), s.Name)
		if !s.BacklogKnown {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, s.OldestWait.Seconds(), s.Name)
		ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, float64(s.Behind), s.Name)
	}
}
