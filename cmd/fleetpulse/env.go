package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/config/redact"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

// config reads the settings from the environment, with defaults (a setting
// of its own for `dev`) under it; a bad one is a usage error naming it.
func (c *cli) config(defaults map[string]string) (config.Config, error) {
	cfg, err := config.FromEnv(func(name string) string {
		if v := c.getenv(name); v != "" {
			return v
		}
		return defaults[name]
	})
	if err != nil {
		return config.Config{}, usageError{err.Error()}
	}
	return cfg, nil
}

// logger writes warnings and errors (from least on) as text lines on stderr:
// a command's own output is its result, not a log. FLEETPULSE_LOG_LEVEL=debug
// shows everything.
func (c *cli) logger(cfg config.Config, least slog.Level) *slog.Logger {
	level := max(least, cfg.LogLevel)
	if cfg.LogLevel < slog.LevelInfo {
		level = cfg.LogLevel
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
}

// openPostgres connects to PostgreSQL and migrates it; a failure names the
// setting to check.
func (c *cli) openPostgres(ctx context.Context, cfg config.Config, logger *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := service.OpenPostgres(ctx, cfg, logger)
	if err != nil {
		// pgx's errors name the server and user, never the password.
		return nil, fmt.Errorf("%w; check FLEETPULSE_PG_URL (%s)", err, redact.Postgres(cfg.PostgresURL))
	}
	return pool, nil
}

// work is what a command that reads or writes the database gets.
type work struct {
	cfg    config.Config
	env    service.Env
	logger *slog.Logger
}

// withPostgres reads the settings, opens PostgreSQL and the event store,
// runs fn, and closes them; the log shows from least on.
func (c *cli) withPostgres(ctx context.Context, least slog.Level, fn func(ctx context.Context, w work) error) error {
	cfg, err := c.config(nil)
	if err != nil {
		return err
	}
	return c.open(ctx, cfg, c.logger(cfg, least), fn)
}

// open opens PostgreSQL (migrating it) and the event store, runs fn, and
// closes them.
func (c *cli) open(ctx context.Context, cfg config.Config, logger *slog.Logger, fn func(ctx context.Context, w work) error) error {
	pool, err := c.openPostgres(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, closeStore, err := service.OpenEventStore(ctx, cfg, pool, logger)
	if err != nil {
		return fmt.Errorf("%w; check FLEETPULSE_EVENT_STORE and FLEETPULSE_ESDB_URL", redact.Error(err, cfg.ESDBURL))
	}
	defer closeStore()
	return fn(ctx, work{cfg: cfg, env: service.Env{Pool: pool, Store: store}, logger: logger})
}
