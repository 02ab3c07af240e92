package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/infra/service"
	"github.com/fleetpulse/fleetpulse/projections"
)

func rebuildCommand(c *cli) *cobra.Command {
	var (
		yes           bool
		shares, share int
	)
	cmd := leaf("rebuild", "Rebuild the read models from the log into new tables, then swap them in",
		"Projects the whole event log into shadow tables while the live read models keep serving, with a progress\n"+
			"bar, then swaps them in (one transaction of table renames) and drops the old tables. A running projector\n"+
			"carries on with the new tables. --shares N partitions the projection into N shares from then on (one\n"+
			"projector per share fills the new tables; projectors started with another share count stop at the swap\n"+
			"and are to be restarted with FLEETPULSE_PROJECTOR_SHARES=N). --share i rebuilds only the devices of share i\n"+
			"and swaps their rows in one transaction. Asks first on a terminal; needs --yes otherwise.",
		func(cmd *cobra.Command) error {
			if shares < 0 || shares > projections.MaxShares {
				return usagef("--shares %d: want 1 to %d (0: keep the current count)", shares, projections.MaxShares)
			}
			if share < -1 {
				return usagef("--share %d: want a share number from 0", share)
			}
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				scope := projections.RebuildScope{Shares: shares}
				current, err := liveShares(ctx, w)
				if err != nil {
					return err
				}
				if share >= 0 {
					if shares != 0 && shares != current {
						return usagef("--share %d with --shares %d: the read models' share count is %d; change the count with a whole rebuild (--shares alone)", share, shares, current)
					}
					if share >= current {
						return usagef("--share %d: the read models' share count is %d (shares 0 to %d)", share, current, current-1)
					}
					scope = projections.RebuildScope{Shares: current, Share: share, One: true}
				}
				events := "every event"
				if n, ok := logSize(ctx, w); ok {
					events = fmt.Sprintf("the %d events", n)
				}
				what := "rebuilds the read models from " + events + " of the log into new tables and swaps them in for the live ones, whose tables are then dropped"
				switch {
				case scope.One:
					what = fmt.Sprintf("rebuilds the read models of share %d of %d from %s of the log and replaces that share's rows with them", share, current, events)
				case shares != 0 && shares != current:
					what += fmt.Sprintf("; the projection then runs as %d shares (now %d): restart its projectors with FLEETPULSE_PROJECTOR_SHARES=%d", shares, current, shares)
				}
				if err := c.confirm(cmd, yes, what); err != nil {
					return err
				}
				return c.rebuild(ctx, w, scope)
			})
		})
	cmd.Aliases = []string{"replay"}
	addYes(cmd, &yes)
	cmd.Flags().IntVar(&shares, "shares", 0, "shares the read-model projection runs as after the rebuild (default: as many as now)")
	cmd.Flags().IntVar(&share, "share", -1, "rebuild only this share's devices (default: all of them)")
	return cmd
}

// liveShares is how many shares the read-model projection runs as.
func liveShares(ctx context.Context, w work) (int, error) {
	writer, err := readmodel.NewWriter(w.env.Pool, service.WriterConfig(w.cfg))
	if err != nil {
		return 0, err
	}
	return writer.LiveShares(ctx, projections.ReadModels)
}

// logSize counts the events of the log, if the store can.
func logSize(ctx context.Context, w work) (int64, bool) {
	backlog, ok := w.env.Store.(readmodel.EventBacklog)
	if !ok {
		return 0, false
	}
	n, _, err := backlog.Backlog(ctx, domain.Start)
	return n, err == nil
}

// rebuild projects the whole log into shadow tables with a progress bar,
// then swaps them in for the live read models (scope's shares of them).
func (c *cli) rebuild(ctx context.Context, w work, scope projections.RebuildScope) error {
	head, err := w.env.Store.Head(ctx)
	if err != nil {
		return err
	}
	total := int64(-1) // unknown: the bar shows a spinner
	if n, ok := logSize(ctx, w); ok {
		total = n
	}
	shadow, err := readmodel.CreateShadow(ctx, w.env.Pool, service.WriterConfig(w.cfg))
	if err != nil {
		return err
	}
	defer shadow.Close()
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetDescription("rebuilding read models"),
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionFullWidth(),
	)
	report, err := projections.RebuildShares(ctx, w.env.Store, w.env.Store, shadow, head, w.logger,
		projections.Config{BatchSize: w.cfg.ProjectorBatch, OnBatch: func(n int, _ domain.RecordedEvent) { _ = bar.Add(n) }}, scope)
	_ = bar.Finish()
	fmt.Fprintln(c.stderr)
	if err != nil {
		return err
	}
	what := "read models"
	switch {
	case scope.One:
		what = fmt.Sprintf("the read models of share %d of %d", scope.Share, scope.Shares)
	case scope.Shares > 1:
		what = fmt.Sprintf("read models in %d shares", scope.Shares)
	}
	fmt.Fprintf(c.stdout, "rebuilt %s from %d events in %s (%.0f events/s) and swapped them in\n",
		what, report.Events, report.Duration.Round(time.Millisecond), report.EventsPerSecond())
	return nil
}

// statusJSON is one projection in `status --json`.
type statusJSON struct {
	Projection    string    `json:"projection"`
	Checkpoint    string    `json:"checkpoint"`
	EventsApplied int64     `json:"events_applied"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Behind and OldestWaitingSeconds are null when the event store cannot
	// count its log (EventStoreDB).
	Behind               *int64   `json:"behind"`
	OldestWaitingSeconds *float64 `json:"oldest_waiting_seconds"`
	// Shares is set on the row of a partitioned projection, which its
	// slowest share bounds; its shares' rows follow it.
	Shares int `json:"shares,omitempty"`
}

func statusCommand(c *cli) *cobra.Command {
	var asJSON bool
	cmd := leaf("status", "Show each projection's checkpoint and how far behind the log it is",
		"Lists every checkpoint (the read models', the alerting forwarder's, a rebuild's while it runs): where it\n"+
			"stands, the events it applied, and the events it has yet to apply with the age of the oldest (a\n"+
			"partitioned projection has one row per share, after a row its slowest share bounds); then what\n"+
			"the log has archived (files, events, bytes, the stretches of the log) and how many events are in PostgreSQL.\n"+
			"--json prints the checkpoints only.",
		func(cmd *cobra.Command) error {
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				backlog, _ := w.env.Store.(readmodel.EventBacklog) // nil: the store cannot count its log
				sts, err := readmodel.Statuses(ctx, w.env.Pool, backlog)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]statusJSON, 0, len(sts))
					for _, s := range sts {
						j := statusJSON{Projection: s.Name, Checkpoint: s.Position.String(), EventsApplied: s.Events, UpdatedAt: s.UpdatedAt.UTC(), Shares: s.Shares}
						if s.BacklogKnown {
							behind, wait := s.Behind, s.OldestWait.Seconds()
							j.Behind, j.OldestWaitingSeconds = &behind, &wait
						}
						out = append(out, j)
					}
					return c.writeJSON(out)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PROJECTION\tCHECKPOINT\tEVENTS APPLIED\tBEHIND (events)\tOLDEST WAITING\tUPDATED")
				for _, s := range sts {
					behind, oldest := "unknown", "unknown"
					if s.BacklogKnown {
						behind, oldest = fmt.Sprint(s.Behind), s.OldestWait.Round(time.Millisecond).String()
					}
					name := s.Name
					if s.Shares > 0 {
						name += fmt.Sprintf(" (slowest of %d shares)", s.Shares)
					}
					updated := "never"
					if !s.UpdatedAt.IsZero() {
						updated = s.UpdatedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", name, s.Position, s.Events, behind, oldest, updated)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				ranges, err := service.ArchivedRanges(ctx, w.env)
				if err != nil {
					return err
				}
				sum := summarise(ranges)
				total, known := logSize(ctx, w) // archived events included
				return c.printArchive(sum, total-sum.Events, known)
			})
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}

func (c *cli) writeJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func projectionCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projection <add|list|remove>",
		Short: "Manage extra bucket projections (e.g. 15 minutes, or days in another zone)",
		Args:  commandArgs,
		RunE:  needsSubcommand,
	}
	cmd.AddCommand(projectionAddCommand(c), projectionListCommand(c), projectionRemoveCommand(c))
	return cmd
}

func projectionAddCommand(c *cli) *cobra.Command {
	var (
		name  string
		width time.Duration
		zone  string
	)
	cmd := leaf("add", "Define a bucket projection and fill it from the whole log",
		"Defines buckets of --width (whole minutes that divide a day) in each device's zone or in --zone, and fills\n"+
			"them from the whole log by a rebuild (see rebuild) while ingestion goes on; the projector keeps them live.",
		func(cmd *cobra.Command) error {
			if name == "" {
				return usagef("--name is required, e.g. --name q15")
			}
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				if err := readmodel.AddBucketProjection(ctx, w.env.Pool, projections.BucketSpec{Name: name, Width: width}, zone); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "bucket projection %s (%s) added; filling it from the log\n", name, width)
				// The live projector keeps serving the others meanwhile, and
				// picks the new one up with the swapped tables.
				return c.rebuild(ctx, w, projections.RebuildScope{})
			})
		})
	cmd.Flags().StringVar(&name, "name", "", "projection name, e.g. q15 (required)")
	cmd.Flags().DurationVar(&width, "width", 15*time.Minute, "bucket width: whole minutes that divide a day")
	cmd.Flags().StringVar(&zone, "zone", "", "IANA zone the buckets are cut in (default: each device's own)")
	return cmd
}

// projectionJSON is one projection in `projection list --json`.
type projectionJSON struct {
	Name         string  `json:"name"`
	WidthMinutes int     `json:"width_minutes"`
	Zone         *string `json:"zone"` // null: each device's own
}

func projectionListCommand(c *cli) *cobra.Command {
	var asJSON bool
	cmd := leaf("list", "List the bucket projections", "",
		func(cmd *cobra.Command) error {
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				specs, err := readmodel.BucketProjections(ctx, w.env.Pool)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]projectionJSON, 0, len(specs))
					for _, s := range specs {
						p := projectionJSON{Name: s.Name, WidthMinutes: int(s.Width / time.Minute)}
						if s.Zone != nil {
							z := s.Zone.String()
							p.Zone = &z
						}
						out = append(out, p)
					}
					return c.writeJSON(out)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tWIDTH\tZONE")
				for _, s := range specs {
					z := "(device's own)"
					if s.Zone != nil {
						z = s.Zone.String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Width, z)
				}
				return tw.Flush()
			})
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}

func projectionRemoveCommand(c *cli) *cobra.Command {
	var (
		name string
		yes  bool
	)
	cmd := leaf("remove", "Remove a bucket projection and its rows",
		"Stops keeping the bucket projection --name and deletes its buckets. Asks first on a terminal; needs --yes otherwise.",
		func(cmd *cobra.Command) error {
			if name == "" {
				return usagef("--name is required: the projection to remove (fleetpulse projection list shows them)")
			}
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				specs, err := readmodel.BucketProjections(ctx, w.env.Pool)
				if err != nil {
					return err
				}
				var found *projections.BucketSpec
				for i := range specs {
					if specs[i].Name == name {
						found = &specs[i]
					}
				}
				if found == nil {
					return fmt.Errorf("no bucket projection %q; fleetpulse projection list shows them", name)
				}
				if err := c.confirm(cmd, yes, fmt.Sprintf("removes bucket projection %s (%s buckets) and deletes every bucket it holds", name, found.Width)); err != nil {
					return err
				}
				if err := readmodel.RemoveBucketProjection(ctx, w.env.Pool, name); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "bucket projection %s removed\n", name)
				return nil
			})
		})
	cmd.Flags().StringVar(&name, "name", "", "the projection to remove (required)")
	addYes(cmd, &yes)
	return cmd
}
