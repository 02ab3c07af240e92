package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/config/redact"
	"github.com/fleetpulse/fleetpulse/infra/devicesim"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

// devDefaults are dev's own defaults: a fixed admin token is fine on a
// developer's machine only (every other process refuses to start without
// one), and devices may also write through local Mosquitto.
var devDefaults = map[string]string{
	"FLEETPULSE_ADMIN_TOKEN":  "dev-admin-token",
	"FLEETPULSE_MQTT_ENABLED": "true",
}

func devCommand(c *cli) *cobra.Command {
	var sim simFlags
	cmd := leaf("dev", "Run everything in one process on local PostgreSQL, with simulated devices",
		"Creates FLEETPULSE_PG_URL's database if needed, runs the command API, projector (with alerting) and read API\n"+
			"in one process, backfills simulated history and then posts live data until interrupted. It logs as the\n"+
			"services do (JSON lines); FLEETPULSE_ADMIN_TOKEN defaults to dev-admin-token and FLEETPULSE_MQTT_ENABLED to true.\n"+
			"It creates a read key for every device and prints it with the dashboard's address.",
		func(cmd *cobra.Command) error {
			if err := sim.check(); err != nil {
				return err
			}
			return c.dev(cmd.Context(), sim)
		})
	sim.register(cmd.Flags(), 30*24*time.Hour)
	return cmd
}

// dev runs the whole system locally: creates the database if needed,
// starts all three services, and feeds them from simulated devices.
func (c *cli) dev(ctx context.Context, sim simFlags) error {
	cfg, err := c.config(devDefaults)
	if err != nil {
		return err
	}
	if cfg.ProjectorShares > 1 {
		// dev runs one projector: a share of several would leave the
		// other shares' devices unprojected.
		return usagef("dev runs one projector; unset FLEETPULSE_PROJECTOR_SHARES (it is %d)", cfg.ProjectorShares)
	}
	logger := slog.New(slog.NewJSONHandler(c.stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "dev")
	logger.Info("starting", "config", cfg)
	if err := postgres.EnsureDatabase(ctx, cfg.PostgresURL); err != nil {
		return fmt.Errorf("%w; check FLEETPULSE_PG_URL (%s)", err, redact.Postgres(cfg.PostgresURL))
	}
	err = c.open(ctx, cfg, logger, func(ctx context.Context, w work) error {
		commandAddr := make(chan string, 1)
		ready := func(name, addr string) {
			logger.Info("ready", "server", name, "addr", addr)
			if name == "command" {
				commandAddr <- addr
			}
		}
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return service.RunCommandAPI(ctx, cfg, w.env, logger, ready) })
		g.Go(func() error { return service.RunProjector(ctx, cfg, w.env, logger, ready) })
		g.Go(func() error { return service.RunReadAPI(ctx, cfg, w.env, logger, ready) })
		g.Go(func() error {
			var addr string
			select {
			case addr = <-commandAddr:
			case <-ctx.Done():
				return nil
			}
			// A fleet-wide read key for the dashboard and curl: the read API
			// asks for one on every data route.
			devKey, err := createReadKey(ctx, w, "fleetpulse dev", nil)
			if err != nil {
				return fmt.Errorf("create the dev read key: %w", err)
			}
			c.printBanner(cfg, devKey.Key)
			s := devicesim.New(devicesim.Config{
				CommandURL: "http://" + loopback(addr), AdminToken: cfg.AdminToken,
				Stations: sim.stations, Vehicles: sim.vehicles, Interval: sim.interval,
				Backfill: sim.backfill, BackfillStep: sim.step,
			}, logger.With("component", "simulator"))
			return s.Run(ctx)
		})
		return g.Wait()
	})
	logger.Info("stopped")
	return err
}

func simulateCommand(c *cli) *cobra.Command {
	var sim simFlags
	var url string
	cmd := leaf("simulate", "Play simulated devices against a running command API",
		"Registers simulated stations and vehicles through the command API at --url (as the operator of\n"+
			"FLEETPULSE_ADMIN_TOKEN), posts --backfill of history, then live data until interrupted.",
		func(cmd *cobra.Command) error {
			if err := sim.check(); err != nil {
				return err
			}
			cfg, err := c.config(nil)
			if err != nil {
				return err
			}
			if cfg.AdminToken == "" {
				return usagef("FLEETPULSE_ADMIN_TOKEN is required to register simulated devices")
			}
			if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
				return usagef("--url must be the command API's http:// or https:// address, got %q", url)
			}
			logger := slog.New(slog.NewJSONHandler(c.stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "simulate")
			return devicesim.New(devicesim.Config{
				CommandURL: strings.TrimRight(url, "/"), AdminToken: cfg.AdminToken,
				Stations: sim.stations, Vehicles: sim.vehicles, Interval: sim.interval,
				Backfill: sim.backfill, BackfillStep: sim.step,
			}, logger).Run(cmd.Context())
		})
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8080", "command API base URL")
	sim.register(cmd.Flags(), 0)
	return cmd
}

// loopback turns ":8080" or "[::]:8080" into an address a client can dial.
func loopback(addr string) string {
	i := strings.LastIndex(addr, ":")
	host := addr[:i]
	if host == "" || host == "[::]" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return host + addr[i:]
}

func (c *cli) printBanner(cfg config.Config, readKey string) {
	read := "http://" + loopback(cfg.ReadAddr)
	auth := "-H 'Authorization: Bearer " + readKey + "' "
	fmt.Fprintf(c.stderr, `
fleetpulse dev is up: simulated stations and vehicles are posting data.
  command API  http://%s   (admin token: %s)
  read API     %s
  read key     %s
  dashboard    %s/#key=%s
               (the link hands the dashboard the key; it keeps it for this browser tab only)
  try:
    curl -s %s%s/v1/stations
    curl -s %s'%s/v1/measurements?station=sim-station-01&type=pm25&days=1'
    curl -s %s'%s/v1/measurements?station=sim-station-01&type=pm25&days=30'
    curl -s %s'%s/v1/vehicles/sim-vehicle-01/events?limit=5'

`, loopback(cfg.CommandAddr), cfg.AdminToken, read, readKey, read, readKey, auth, read, auth, read, auth, read, auth, read)
}
