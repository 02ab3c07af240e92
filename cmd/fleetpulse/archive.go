package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

func archiveCommand(c *cli) *cobra.Command {
	var (
		yes     bool
		horizon time.Duration
	)
	cmd := leaf("archive", "Move old telemetry of the event log into Parquet files, then delete it from PostgreSQL",
		"Writes the log's measurements and vehicle events recorded before the horizon (FLEETPULSE_ARCHIVE_HORIZON, or\n"+
			"--horizon) and applied by every checkpointed reader to Parquet files in FLEETPULSE_ARCHIVE_URL, one per day\n"+
			"(year=/month=/day=), reads each back and checks it, then deletes its events from PostgreSQL in the\n"+
			"transaction that records the file. Rebuilds and replays read the archive first, then the live log.\n"+
			"Asks first on a terminal; needs --yes otherwise.",
		func(cmd *cobra.Command) error {
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				h := w.cfg.ArchiveHorizon
				if horizon > 0 {
					h = horizon
				}
				if h < w.cfg.DedupHorizon {
					return usagef("--horizon %s is shorter than FLEETPULSE_DEDUP_HORIZON (%s)", h, w.cfg.DedupHorizon)
				}
				archiver, err := service.NewArchiver(ctx, w.cfg, w.env, service.ManualArchive(h), w.logger)
				if err != nil {
					return err
				}
				if err := c.confirm(cmd, yes, fmt.Sprintf("moves the telemetry events recorded more than %s ago out of the PostgreSQL log into %s, deleting them from PostgreSQL", h, w.cfg.ArchiveURL)); err != nil {
					return err
				}
				rep, err := archiver.Run(ctx)
				if err != nil {
					return err
				}
				rate, itemRate := 0.0, 0.0
				if s := rep.Duration.Seconds(); s > 0 {
					rate, itemRate = float64(rep.Events)/s, float64(rep.Items)/s
				}
				fmt.Fprintf(c.stdout, "archived %d events (%d items) into %d files, %d bytes, in %s (%.0f events/s, %.0f items/s)\n",
					rep.Events, rep.Items, rep.Files, rep.Bytes, rep.Duration.Round(time.Millisecond), rate, itemRate)
				return nil
			})
		})
	cmd.Flags().DurationVar(&horizon, "horizon", 0, "archive what was recorded longer ago than this (default FLEETPULSE_ARCHIVE_HORIZON)")
	addYes(cmd, &yes)
	return cmd
}

// archiveSummary is what the log has archived, for status.
type archiveSummary struct {
	Files         int64     `json:"files"`
	Events        int64     `json:"events"`
	Items         int64     `json:"items"`
	Bytes         int64     `json:"bytes"`
	First         string    `json:"first_position,omitempty"`
	Last          string    `json:"last_position,omitempty"`
	RecordedFrom  time.Time `json:"recorded_from,omitzero"`
	RecordedUntil time.Time `json:"recorded_until,omitzero"`
	// Ranges are the archived stretches of the log, merged where one file
	// follows another.
	Ranges []archivedStretch `json:"ranges"`
}

type archivedStretch struct {
	First string `json:"first_position"`
	Last  string `json:"last_position"`
	Files int64  `json:"files"`
	Bytes int64  `json:"bytes"`
}

func summarise(rs []domain.ArchivedRange) archiveSummary {
	s := archiveSummary{Ranges: []archivedStretch{}}
	for i, r := range rs {
		s.Files++
		s.Events += r.Events
		s.Items += r.Items
		s.Bytes += r.Bytes
		if i == 0 || r.RecordedFrom.Before(s.RecordedFrom) {
			s.RecordedFrom = r.RecordedFrom.UTC()
		}
		if r.RecordedUntil.After(s.RecordedUntil) {
			s.RecordedUntil = r.RecordedUntil.UTC()
		}
		// Files cut by day or size follow one another: one stretch. A
		// stretch breaks where archiving stopped and later went on.
		if n := len(s.Ranges); n > 0 && sameRun(rs[i-1], r) {
			s.Ranges[n-1].Last = r.Last.String()
			s.Ranges[n-1].Files++
			s.Ranges[n-1].Bytes += r.Bytes
			continue
		}
		s.Ranges = append(s.Ranges, archivedStretch{First: r.First.String(), Last: r.Last.String(), Files: 1, Bytes: r.Bytes})
	}
	if len(rs) > 0 {
		s.First, s.Last = rs[0].First.String(), rs[len(rs)-1].Last.String()
	}
	return s
}

// sameRun says whether b was archived by the run that archived a.
func sameRun(a, b domain.ArchivedRange) bool {
	return b.ArchivedAt.Sub(a.ArchivedAt) < time.Minute
}

// printArchive writes the archive part of status.
func (c *cli) printArchive(s archiveSummary, hot int64, hotKnown bool) error {
	hotText := "unknown"
	if hotKnown {
		hotText = fmt.Sprint(hot)
	}
	fmt.Fprintln(c.stdout)
	if s.Files == 0 {
		fmt.Fprintf(c.stdout, "ARCHIVE: nothing archived; %s events in PostgreSQL\n", hotText)
		return nil
	}
	fmt.Fprintf(c.stdout, "ARCHIVE: %d files, %d events (%d items), %d bytes, recorded %s to %s; %s events in PostgreSQL\n",
		s.Files, s.Events, s.Items, s.Bytes, s.RecordedFrom.Format(time.RFC3339), s.RecordedUntil.Format(time.RFC3339), hotText)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARCHIVED FROM\tTO\tFILES\tBYTES")
	for _, r := range s.Ranges {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", r.First, r.Last, r.Files, r.Bytes)
	}
	return tw.Flush()
}
