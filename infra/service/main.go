package service

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/fleetpulse/fleetpulse/infra/config"
)

// Main is the start-up and shutdown shape of every fleetpulse binary: read
// the configuration, log it with secrets masked, run until SIGINT or
// SIGTERM, and exit non-zero on failure.
func Main(name string, run func(ctx context.Context, cfg config.Config, logger *slog.Logger) error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		slog.Error("bad configuration", "err", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", name)
	logger.Info("starting", "config", cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("stopped with an error", "err", err)
		os.Exit(1)
	}
	logger.Info("stopped")
}

// WithPostgres opens PostgreSQL (migrating it) and the event store, runs
// fn, and closes both after it.
func WithPostgres(fn func(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger) error) func(context.Context, config.Config, *slog.Logger) error {
	return func(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
		pool, err := OpenPostgres(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		store, closeStore, err := OpenEventStore(ctx, cfg, pool, logger)
		if err != nil {
			return err
		}
		defer closeStore()
		return fn(ctx, cfg, Env{Pool: pool, Store: store}, logger)
	}
}
