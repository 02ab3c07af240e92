package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/infra/metrics"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

// scrapeQueryTimeout bounds the queries a scrape of the projector runs
// (checkpoint backlogs, device counts); Prometheus's own timeout is 10 s.
const scrapeQueryTimeout = 5 * time.Second

// appendingStore registers, on reg of a process that handles commands, the
// PostgreSQL pool's statistics and the event store's own series (group
// commit), and returns the store with its appends measured: the store to
// build the command handlers on.
func appendingStore(reg prometheus.Registerer, env Env) commands.EventStore {
	reg.MustRegister(metrics.NewPoolCollector(env.Pool))
	if own, ok := env.Store.(interface{ Collectors() []prometheus.Collector }); ok {
		reg.MustRegister(own.Collectors()...)
	}
	return metrics.InstrumentAppends(env.Store, reg)
}

// registerProjectorCollectors registers on reg what the projector process
// tells at each scrape: its pool, how far each checkpoint is behind the
// head of the log, and the fleet's silent devices.
func registerProjectorCollectors(reg prometheus.Registerer, env Env, logger *slog.Logger) {
	backlog, _ := env.Store.(readmodel.EventBacklog) // nil: the store cannot count its log
	reg.MustRegister(
		metrics.NewPoolCollector(env.Pool),
		metrics.NewProjectionCollector(func(ctx context.Context) ([]metrics.ProjectionStatus, error) {
			statuses, err := readmodel.Statuses(ctx, env.Pool, backlog)
			out := make([]metrics.ProjectionStatus, len(statuses))
			for i, s := range statuses {
				out[i] = metrics.ProjectionStatus{Name: s.Name, Events: s.Events, BacklogKnown: s.BacklogKnown, Behind: s.Behind, OldestWait: s.OldestWait}
			}
			return out, err
		}, scrapeQueryTimeout, logger),
		metrics.NewDeviceCollector(func(ctx context.Context) ([]metrics.DeviceCount, error) {
			counts, err := readmodel.CountDevices(ctx, env.Pool)
			out := make([]metrics.DeviceCount, len(counts))
			for i, c := range counts {
				out[i] = metrics.DeviceCount(c)
			}
			return out, err
		}, scrapeQueryTimeout, logger),
	)
}
