package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/fleetpulse/fleetpulse/infra/importer"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

// importSummary is `import --json`'s output, and what the text summary says.
type importSummary struct {
	File       string               `json:"file"`
	Format     importer.Format      `json:"format"`
	Complete   bool                 `json:"complete"`
	Rows       int64                `json:"rows"`
	Accepted   int64                `json:"accepted"`
	Duplicates int64                `json:"duplicates"`
	Rejected   int64                `json:"rejected"`
	Rejections []importer.Rejection `json:"rejections"`
	NextLine   int64                `json:"next_line"`
	Seconds    float64              `json:"seconds"`
	RowsPerSec float64              `json:"rows_per_second"`
	Error      string               `json:"error,omitempty"`
}

func importCommand(c *cli) *cobra.Command {
	var (
		formatName string
		fromLine   int64
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "import <file>",
		Short: "Record a file of historical measurements (CSV, NDJSON or an archive's Parquet) through the command handlers",
		Long: "Reads measurements (station, id optional, type, value, measured_at) from a CSV file with a header or an\n" +
			"NDJSON file (one object a line) and records them as their stations' own batches would be: the same\n" +
			"validation, and each row stored once however often it is imported (a row without id gets one derived\n" +
			"from its station, type and measured_at). Rows go in batches of FLEETPULSE_IMPORT_BATCH; bad rows are\n" +
			"rejected with their line and the rest carry on. The projector brings them into every read model.\n" +
			"Interrupted, it prints the line to resume from (--from-line); a plain rerun stores nothing twice either.\n" +
			"An archive file (.parquet, written by fleetpulse's archiver) is re-recorded the same way: its station\n" +
			"measurements and vehicle events with their original ids (what the log still holds is a duplicate);\n" +
			"its \"lines\" are its items in the order the log recorded them.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("import takes one file, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			format, err := importFormat(path, formatName)
			if err != nil {
				return err
			}
			if fromLine < 0 {
				return usagef("--from-line must not be negative")
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				im, closeBus, err := service.LocalImporter(w.cfg, w.env, w.logger)
				if err != nil {
					return err
				}
				defer closeBus()
				return c.importFile(ctx, im, f, path, format, fromLine, asJSON)
			})
		},
	}
	cmd.Flags().StringVar(&formatName, "format", "", "csv, ndjson or parquet (default: by the file's extension: .csv, .ndjson, .jsonl, .parquet)")
	cmd.Flags().Int64Var(&fromLine, "from-line", 0, "skip the lines before this one: those an interrupted import committed")
	cmd.Flags().BoolVar(&asJSON, "json", false, "no progress bar; print the summary as JSON")
	return cmd
}

func importFormat(path, name string) (importer.Format, error) {
	if name != "" {
		f, err := importer.ParseFormat(name)
		if err != nil {
			return "", usagef("--format: %v", err)
		}
		return f, nil
	}
	f, err := importer.FormatOfFile(path)
	if err != nil {
		return "", usageError{err.Error()}
	}
	return f, nil
}

// importFile runs the import of f with a progress bar of the bytes read
// (none with asJSON), then prints the summary.
func (c *cli) importFile(ctx context.Context, im *importer.Importer, f *os.File, path string, format importer.Format, fromLine int64, asJSON bool) error {
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	var read atomic.Int64
	dec, err := im.NewDecoder(format, countingReader{r: f, n: &read})
	if err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	if !asJSON {
		bar = progressbar.NewOptions64(size,
			progressbar.OptionSetDescription("importing "+path),
			progressbar.OptionSetWriter(c.stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(),
		)
	}
	start := time.Now()
	p, runErr := im.Run(ctx, dec, importer.Progress{NextLine: fromLine}, func(_ context.Context, p importer.Progress) error {
		if bar != nil {
			// The line to resume from is on screen even if the process is killed.
			bar.Describe(fmt.Sprintf("importing %s: %d rows, %d rejected, stored before line %d", path, p.Rows, p.Rejected, p.NextLine))
			_ = bar.Set64(read.Load())
		}
		return nil
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(c.stderr)
	}
	elapsed := time.Since(start)
	s := importSummary{File: path, Format: format, Complete: runErr == nil, Rows: p.Rows, Accepted: p.Accepted, Duplicates: p.Duplicates,
		Rejected: p.Rejected, Rejections: p.Rejections, NextLine: p.NextLine, Seconds: elapsed.Seconds()}
	if s.Rejections == nil {
		s.Rejections = []importer.Rejection{}
	}
	if elapsed > 0 {
		s.RowsPerSec = float64(p.Rows) / elapsed.Seconds()
	}
	if runErr != nil {
		s.Error = runErr.Error()
	}
	if asJSON {
		if err := c.writeJSON(s); err != nil {
			return err
		}
	} else {
		c.printImportSummary(s)
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			runErr = errors.New("interrupted")
		}
		return fmt.Errorf("%w; lines before %d are stored: resume with --from-line %d", runErr, p.NextLine, p.NextLine)
	}
	return nil
}

func (c *cli) printImportSummary(s importSummary) {
	fmt.Fprintf(c.stdout, "%s: %d rows in %s (%.0f rows/s): %d accepted, %d duplicates, %d rejected\n",
		s.File, s.Rows, time.Duration(s.Seconds*float64(time.Second)).Round(time.Millisecond), s.RowsPerSec, s.Accepted, s.Duplicates, s.Rejected)
	for _, r := range s.Rejections {
		fmt.Fprintf(c.stdout, "  line %d: %s\n", r.Line, r.Reason)
	}
	if int64(len(s.Rejections)) < s.Rejected {
		fmt.Fprintf(c.stdout, "  ... and %d more rejected rows\n", s.Rejected-int64(len(s.Rejections)))
	}
}

// countingReader counts the bytes read through it, for the progress bar.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
