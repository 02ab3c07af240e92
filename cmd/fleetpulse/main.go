// Command fleetpulse is the operator CLI:
//
//	fleetpulse dev       run the command API, projector and read API in one
//	                     process on local PostgreSQL, with simulated devices
//	fleetpulse migrate   bring the PostgreSQL schema to the newest version
//	fleetpulse simulate  play simulated devices against a running command API
//	fleetpulse rebuild   rebuild the read models from the whole log into new
//	                     tables while the old ones serve, then swap them in
//	fleetpulse status    show each projection's checkpoint and lag
//	fleetpulse projection add|list|remove
//	                     manage extra bucket projections (e.g. 15 minutes,
//	                     or days in another zone); add fills one from history
//
// Configuration comes from FLEETPULSE_* environment variables (see README);
// each subcommand also takes flags (-h lists them).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/sync/errgroup"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/devicesim"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/infra/service"
	"github.com/fleetpulse/fleetpulse/projections"
)

const usage = `usage: fleetpulse <command> [flags]

commands:
  dev        run everything in one process on local PostgreSQL, with simulated devices
  migrate    bring the PostgreSQL schema to the newest version
  simulate   play simulated devices against a running command API
  rebuild    rebuild the read models from the log into new tables, then swap them in (alias: replay)
  status     show each projection's checkpoint and lag
  projection add -name q15 -width 15m [-zone UTC] | list | remove -name q15
             extra bucket projections; add fills the new one from the whole log by a rebuild
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "dev":
		dev(args)
	case "migrate":
		service.Main("migrate", func(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
			pool, err := service.OpenPostgres(ctx, cfg, logger)
			if err == nil {
				pool.Close()
			}
			return err
		})
	case "simulate":
		simulate(args)
	case "rebuild", "replay":
		service.Main("rebuild", service.WithPostgres(rebuild))
	case "status":
		service.Main("status", service.WithPostgres(status))
	case "projection":
		projection(args)
	case "-h", "--help", "help":
		fmt.Print(usage)
		printVars()
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

func printVars() {
	fmt.Println("\nenvironment:")
	for _, v := range config.Vars {
		fmt.Printf("  %-28s %s (default %s)\n", v.Name, v.Meaning, v.Default)
	}
}

type simFlags struct {
	stations, vehicles int
	interval, backfill time.Duration
	step               time.Duration
}

func (s *simFlags) register(fs *flag.FlagSet, backfill time.Duration) {
	fs.IntVar(&s.stations, "stations", 5, "simulated stations")
	fs.IntVar(&s.vehicles, "vehicles", 3, "simulated vehicles")
	fs.DurationVar(&s.interval, "interval", 5*time.Second, "live sample interval of each device")
	fs.DurationVar(&s.backfill, "backfill", backfill, "history to post at start")
	fs.DurationVar(&s.step, "step", 30*time.Minute, "sample interval of the backfilled history")
}

// dev runs the whole system locally: creates the database if needed, starts
// all three services, and feeds them from simulated devices.
func dev(args []string) {
	fs := flag.NewFlagSet("dev", flag.ExitOnError)
	var sim simFlags
	sim.register(fs, 30*24*time.Hour)
	_ = fs.Parse(args)
	if os.Getenv("FLEETPULSE_ADMIN_TOKEN") == "" {
		// A fixed token is fine on a developer's machine only; every other
		// process refuses to start without one.
		_ = os.Setenv("FLEETPULSE_ADMIN_TOKEN", "dev-admin-token")
	}
	if os.Getenv("FLEETPULSE_MQTT_ENABLED") == "" {
		_ = os.Setenv("FLEETPULSE_MQTT_ENABLED", "true") // devices may also write through local Mosquitto
	}
	service.Main("dev", func(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
		if err := postgres.EnsureDatabase(ctx, cfg.PostgresURL); err != nil {
			return err
		}
		return service.WithPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
			commandAddr := make(chan string, 1)
			ready := func(name, addr string) {
				logger.Info("ready", "server", name, "addr", addr)
				if name == "command" {
					commandAddr <- addr
				}
			}
			g, ctx := errgroup.WithContext(ctx)
			g.Go(func() error { return service.RunCommandAPI(ctx, cfg, env, logger, ready) })
			g.Go(func() error { return service.RunProjector(ctx, cfg, env, logger, ready) })
			g.Go(func() error { return service.RunReadAPI(ctx, cfg, env, logger, ready) })
			g.Go(func() error {
				var addr string
				select {
				case addr = <-commandAddr:
				case <-ctx.Done():
					return nil
				}
				printBanner(cfg)
				s := devicesim.New(devicesim.Config{
					CommandURL: "http://" + loopback(addr), AdminToken: cfg.AdminToken,
					Stations: sim.stations, Vehicles: sim.vehicles, Interval: sim.interval,
					Backfill: sim.backfill, BackfillStep: sim.step,
				}, logger.With("component", "simulator"))
				return s.Run(ctx)
			})
			return g.Wait()
		})(ctx, cfg, logger)
	})
}

func simulate(args []string) {
	fs := flag.NewFlagSet("simulate", flag.ExitOnError)
	var sim simFlags
	url := fs.String("url", "http://127.0.0.1:8080", "command API base URL")
	sim.register(fs, 0)
	_ = fs.Parse(args)
	service.Main("simulate", func(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
		if cfg.AdminToken == "" {
			return fmt.Errorf("FLEETPULSE_ADMIN_TOKEN is required to register simulated devices")
		}
		return devicesim.New(devicesim.Config{
			CommandURL: strings.TrimRight(*url, "/"), AdminToken: cfg.AdminToken,
			Stations: sim.stations, Vehicles: sim.vehicles, Interval: sim.interval,
			Backfill: sim.backfill, BackfillStep: sim.step,
		}, logger).Run(ctx)
	})
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

func printBanner(cfg config.Config) {
	read := "http://" + loopback(cfg.ReadAddr)
	fmt.Fprintf(os.Stderr, `
fleetpulse dev is up: simulated stations and vehicles are posting data.
  command API  http://%s   (admin token: %s)
  read API     %s
  try:
    curl -s %s/v1/stations
    curl -s '%s/v1/measurements?station=sim-station-01&type=pm25&days=1'
    curl -s '%s/v1/measurements?station=sim-station-01&type=pm25&days=30'
    curl -s '%s/v1/vehicles/sim-vehicle-01/events?limit=5'

`, loopback(cfg.CommandAddr), cfg.AdminToken, read, read, read, read, read)
}

// rebuild projects the whole log into shadow tables with a progress bar,
// then swaps them in for the live read models.
func rebuild(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
	head, err := env.Store.Head(ctx)
	if err != nil {
		return err
	}
	total := int64(-1) // unknown: the bar shows a spinner
	if backlog, ok := env.Store.(readmodel.EventBacklog); ok {
		if n, _, err := backlog.Backlog(ctx, domain.Start); err == nil {
			total = n
		}
	}
	shadow, err := readmodel.CreateShadow(ctx, env.Pool)
	if err != nil {
		return err
	}
	defer shadow.Close()
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetDescription("rebuilding read models"),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionFullWidth(),
	)
	report, err := projections.Rebuild(ctx, env.Store, env.Store, shadow, head, logger,
		projections.Config{BatchSize: cfg.ProjectorBatch, OnBatch: func(n int, _ domain.RecordedEvent) { _ = bar.Add(n) }})
	_ = bar.Finish()
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	fmt.Printf("rebuilt read models from %d events in %s (%.0f events/s) and swapped them in\n",
		report.Events, report.Duration.Round(time.Millisecond), report.EventsPerSecond())
	return nil
}

// status prints every projection's checkpoint and how far behind it is.
func status(ctx context.Context, _ config.Config, env service.Env, _ *slog.Logger) error {
	backlog, _ := env.Store.(readmodel.EventBacklog) // nil: the store cannot count its log
	sts, err := readmodel.Statuses(ctx, env.Pool, backlog)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECTION\tCHECKPOINT\tEVENTS APPLIED\tBEHIND (events)\tOLDEST WAITING\tUPDATED")
	for _, s := range sts {
		behind, oldest := "unknown", "unknown"
		if s.BacklogKnown {
			behind, oldest = fmt.Sprint(s.Behind), s.OldestWait.Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", s.Name, s.Position, s.Events, behind,
			oldest, s.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

// projection manages operator-defined bucket projections.
func projection(args []string) {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("projection "+args[0], flag.ExitOnError)
	name := fs.String("name", "", "projection name, e.g. q15")
	width := fs.Duration("width", 15*time.Minute, "bucket width: whole minutes that divide a day")
	zone := fs.String("zone", "", "IANA zone the buckets are cut in (default: each device's own)")
	_ = fs.Parse(args[1:])
	switch args[0] {
	case "add":
		service.Main("projection-add", service.WithPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
			if err := readmodel.AddBucketProjection(ctx, env.Pool, projections.BucketSpec{Name: *name, Width: *width}, *zone); err != nil {
				return err
			}
			fmt.Printf("bucket projection %s (%s) added; filling it from the log\n", *name, *width)
			// The live projector keeps serving the others meanwhile, and picks
			// the new one up with the swapped tables.
			return rebuild(ctx, cfg, env, logger)
		}))
	case "list":
		service.Main("projection-list", service.WithPostgres(func(ctx context.Context, _ config.Config, env service.Env, _ *slog.Logger) error {
			specs, err := readmodel.BucketProjections(ctx, env.Pool)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tWIDTH\tZONE")
			for _, s := range specs {
				z := "(device's own)"
				if s.Zone != nil {
					z = s.Zone.String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, s.Width, z)
			}
			return w.Flush()
		}))
	case "remove":
		service.Main("projection-remove", service.WithPostgres(func(ctx context.Context, _ config.Config, env service.Env, _ *slog.Logger) error {
			return readmodel.RemoveBucketProjection(ctx, env.Pool, *name)
		}))
	default:
		fmt.Fprintf(os.Stderr, "unknown projection command %q\n\n%s", args[0], usage)
		os.Exit(2)
	}
}
