// The projector process keeps the read models up to date with the event log,
// and runs alerting beside it: the forwarder of integration events and the
// alert evaluator (thresholds, offline detection), unless FLEETPULSE_ALERTING
// is false.
// Configuration comes from FLEETPULSE_* environment variables (see README).
package main

import (
	"context"
	"log/slog"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

func main() {
	service.Main("projector", service.WithPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
		return service.RunProjector(ctx, cfg, env, logger, nil)
	}))
}
