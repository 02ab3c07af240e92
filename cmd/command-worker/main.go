// The command-worker process runs the command handlers behind a distributed
// command bus (FLEETPULSE_COMMAND_BUS nats or postgres): command APIs send,
// any number of workers handle. Configuration comes from FLEETPULSE_*
// environment variables (see README).
package main

import (
	"context"
	"log/slog"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

func main() {
	service.Main("command-worker", service.WithPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
		return service.RunCommandWorker(ctx, cfg, env, logger, nil)
	}))
}
