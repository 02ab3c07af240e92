// The command-api process serves the command API devices and operators write through.
// Configuration comes from FLEETPULSE_* environment variables (see README).
package main

import (
	"context"
	"log/slog"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

func main() {
	service.Main("command-api", service.WithPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
		return service.RunCommandAPI(ctx, cfg, env, logger, nil)
	}))
}
