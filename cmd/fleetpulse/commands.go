package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetpulse/fleetpulse/infra/config"
)

// newRoot builds the command tree over c.
func newRoot(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "fleetpulse <command> [flags]",
		Short: "Operate fleetpulse: run it locally, migrate, rebuild and inspect its read models",
		Long: "fleetpulse runs the whole system locally (dev), feeds a running one with simulated devices\n" +
			"(simulate), and operates its PostgreSQL: schema (migrate), read models (rebuild, status),\n" +
			"bucket projections (projection) and bulk imports of history (import).",
		Args:          commandArgs,
		RunE:          needsSubcommand,
		SilenceErrors: true, // run prints them, one line each
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	// The root's help ends with every setting; its commands' help does not.
	help := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		help(cmd, args)
		if cmd == root {
			fmt.Fprint(cmd.OutOrStdout(), "\n"+environmentHelp())
		}
	})
	root.AddCommand(devCommand(c), migrateCommand(c), simulateCommand(c), rebuildCommand(c), statusCommand(c), projectionCommand(c), readKeyCommand(c), importCommand(c), archiveCommand(c))
	return root
}

// environmentHelp lists every setting, for the root's help.
func environmentHelp() string {
	var b strings.Builder
	b.WriteString("Settings (environment variables, with their defaults):\n")
	for _, v := range config.Vars {
		fmt.Fprintf(&b, "  %-32s %s (default %s)\n", v.Name, v.Meaning, v.Default)
	}
	return b.String()
}

// commandArgs refuses arguments where a command expects none: an unknown
// command under a parent, a stray word after a leaf.
func commandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return usagef("unknown command %q", args[0])
	}
	return usagef("%s takes no arguments, got %q", cmd.Name(), strings.Join(args, " "))
}

// needsSubcommand is the work of a command that only groups others.
func needsSubcommand(cmd *cobra.Command, _ []string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usagef("a command is needed: one of %s", strings.Join(names, ", "))
}

// leaf returns a command without arguments, running run.
func leaf(use, short, long string, run func(cmd *cobra.Command) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Long: long, Args: commandArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd) }}
}

// simFlags are the simulated fleet's settings, shared by dev and simulate.
type simFlags struct {
	stations, vehicles       int
	interval, backfill, step time.Duration
}

func (s *simFlags) register(fs *pflag.FlagSet, backfill time.Duration) {
	fs.IntVar(&s.stations, "stations", 5, "simulated stations")
	fs.IntVar(&s.vehicles, "vehicles", 3, "simulated vehicles")
	fs.DurationVar(&s.interval, "interval", 5*time.Second, "live sample interval of each device")
	fs.DurationVar(&s.backfill, "backfill", backfill, "history to post at start")
	fs.DurationVar(&s.step, "step", 30*time.Minute, "sample interval of the backfilled history")
}

func (s simFlags) check() error {
	switch {
	case s.stations < 0 || s.vehicles < 0:
		return usagef("--stations and --vehicles must not be negative")
	case s.interval <= 0 || s.step <= 0:
		return usagef("--interval and --step must be positive durations, like 5s or 30m")
	case s.backfill < 0:
		return usagef("--backfill must not be negative")
	}
	return nil
}

func migrateCommand(c *cli) *cobra.Command {
	return leaf("migrate", "Bring the PostgreSQL schema to the newest version",
		"Applies every migration the schema of FLEETPULSE_PG_URL's database lacks (the event store's and the read models').",
		func(cmd *cobra.Command) error {
			cfg, err := c.config(nil)
			if err != nil {
				return err
			}
			pool, err := c.openPostgres(cmd.Context(), cfg, c.logger(cfg, slog.LevelInfo))
			if err != nil {
				return err
			}
			pool.Close()
			fmt.Fprintln(c.stdout, "the PostgreSQL schema is at the newest version")
			return nil
		})
}
