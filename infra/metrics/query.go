package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// queryCollector asks the database at each scrape: query runs within
// timeout and emit turns each row it returns into samples. A failed query
// is logged and leaves its series out of that scrape only; the rest of the
// scrape goes on.
type queryCollector[T any] struct {
	descs   []*prometheus.Desc
	query   func(ctx context.Context) ([]T, error)
	emit    func(row T, ch chan<- prometheus.Metric)
	timeout time.Duration
	logger  *slog.Logger
	what    string // what the query measures, for the log
}

func (c *queryCollector[T]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *queryCollector[T]) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	rows, err := c.query(ctx)
	if err != nil {
		c.logger.Warn(c.what+" not measured for this scrape", "err", err)
		return
	}
	for _, r := range rows {
		c.emit(r, ch)
	}
}

// gauge is one gauge sample.
func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
