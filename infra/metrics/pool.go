package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads a pgx pool's statistics at each scrape.
type poolCollector struct {
	stat func() *pgxpool.Stat

	acquired, idle, constructing, total, max     *prometheus.Desc
	acquires, emptyAcquires, canceled, waitTotal *prometheus.Desc
	opened, closed                               *prometheus.Desc
}

// NewPoolCollector describes pool: its connections by state, and how
// acquiring them went (counts, time spent waiting, acquires that found no
// idle connection or were cancelled).
func NewPoolCollector(pool *pgxpool.Pool) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("fleetpulse_pgxpool_"+name, help, nil, nil)
	}
	return &poolCollector{
		stat:          pool.Stat,
		acquired:      d("acquired_connections", "Connections in use now."),
		idle:          d("idle_connections", "Idle connections now."),
		constructing:  d("constructing_connections", "Connections being opened now."),
		total:         d("connections", "Connections open now, in use or idle."),
		max:           d("max_connections", "Most connections the pool opens (FLEETPULSE_PG_MAX_CONNS)."),
		acquires:      d("acquires_total", "Connections handed out."),
		emptyAcquires: d("empty_acquires_total", "Acquires that found no idle connection and waited for one."),
		canceled:      d("canceled_acquires_total", "Acquires given up by their caller before a connection came."),
		waitTotal:     d("acquire_duration_seconds_total", "Time spent acquiring connections, all acquires together."),
		opened:        d("opened_connections_total", "Connections opened."),
		closed:        d("closed_connections_total", "Connections closed for their age or idleness."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.constructing, c.total, c.max,
		c.acquires, c.emptyAcquires, c.canceled, c.waitTotal, c.opened, c.closed} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	counter := func(d *prometheus.Desc, v float64) prometheus.Metric {
		return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	ch <- gauge(c.acquired, float64(s.AcquiredConns()))
	ch <- gauge(c.idle, float64(s.IdleConns()))
	ch <- gauge(c.constructing, float64(s.ConstructingConns()))
	ch <- gauge(c.total, float64(s.TotalConns()))
	ch <- gauge(c.max, float64(s.MaxConns()))
	ch <- counter(c.acquires, float64(s.AcquireCount()))
	ch <- counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	ch <- counter(c.canceled, float64(s.CanceledAcquireCount()))
	ch <- counter(c.waitTotal, s.AcquireDuration().Seconds())
	ch <- counter(c.opened, float64(s.NewConnsCount()))
	ch <- counter(c.closed, float64(s.MaxLifetimeDestroyCount()+s.MaxIdleDestroyCount()))
}
