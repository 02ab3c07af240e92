package service

import (
	"context"
	"log/slog"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

// WithReadPostgres opens what the read API needs, from
// FLEETPULSE_READ_PG_URL. When that is the primary (the default) it is
// WithPostgres. When it names another server, a hot standby of the
// primary, only that server is opened: never migrated (a standby is
// read-only; the primary's migrations reach it by replication) and with no
// event store (Env.Store is nil; the read API reads read models only), so
// the read API starts and answers while the primary is away.
func WithReadPostgres(fn func(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger) error) func(context.Context, config.Config, *slog.Logger) error {
	return func(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
		if cfg.ReadPostgresURL == cfg.PostgresURL {
			return WithPostgres(fn)(ctx, cfg, logger)
		}
		pool, err := postgres.Connect(ctx, cfg.ReadPostgresURL, cfg.PostgresMaxConns)
		if err != nil {
			return err
		}
		defer pool.Close()
		return fn(ctx, cfg, Env{Pool: pool}, logger)
	}
}
