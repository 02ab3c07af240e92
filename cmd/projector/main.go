// The projector process keeps the read models up to date with the event log,
// and runs alerting beside it: the forwarder of integration events and the
// alert evaluator (thresholds, offline detection), unless FLEETPULSE_ALERTING
// is false.
// Configuration comes from FLEETPULSE_* environment variables (see README).
package main

import (
	"context"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

func main() {
	service.Main("projector", service.WithPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return service.RunProjector(ctx, cfg, env, logger, nil) })
		if cfg.Alerting {
			g.Go(func() error { return service.RunAlerting(ctx, cfg, env, logger) })
		} else {
			logger.Info("alerting is off (FLEETPULSE_ALERTING=false): no alerts, no device status")
		}
		return g.Wait()
	}))
}
