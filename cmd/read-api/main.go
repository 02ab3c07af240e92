// The read-api process serves dashboards from the read models.
// Configuration comes from FLEETPULSE_* environment variables (see README).
package main

import (
	"context"
	"log/slog"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

func main() {
	service.Main("read-api", service.WithReadPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
		return service.RunReadAPI(ctx, cfg, env, logger, nil)
	}))
}
