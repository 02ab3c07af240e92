package service

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/fleetpulse/fleetpulse/infra/config"
)

// RunFunc is a process's work, from start-up to a clean stop when ctx ends.
type RunFunc func(ctx context.Context, cfg config.Config, logger *slog.Logger) error

// Main is the start-up and shutdown shape of every fleetpulse binary: read
// the configuration, log it without its secrets, run until SIGINT or
// SIGTERM, and exit non-zero on failure.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := runMain(ctx, name, os.Getenv, os.Stderr, run)
	stop()
	os.Exit(code)
}

// runMain is Main without the process around it, returning the exit code:
// the environment, the log's output and the context come from the caller.
// Everything a process logs on its way up and down goes through here.
func runMain(ctx context.Context, name string, getenv func(string) string, logOut io.Writer, run RunFunc) int {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		slog.New(slog.NewJSONHandler(logOut, nil)).Error("bad configuration", "service", name, "err", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", name)
	logger.Info("starting", "config", cfg)
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("stopped with an error", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

// WithPostgres opens PostgreSQL (migrating it) and the event store, runs
// fn, and closes both after it.
func WithPostgres(fn func(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger) error) RunFunc {
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
