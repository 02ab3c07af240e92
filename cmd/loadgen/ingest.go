package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
)

// ingestConfig is the flags of the ingest and soak modes.
type ingestConfig struct {
	common
	api                          apiFlags
	projectorURL                 string
	stations, batch, concurrency int
	rate                         float64
	pids                         string
	probes                       float64
	drainTimeout                 time.Duration
	prefix                       string
	reportEvery                  time.Duration

	pidList []int // -pids, parsed by check
}

// register adds the flags; soak differs from ingest in its defaults only.
func (c *ingestConfig) register(fs *flag.FlagSet, duration, reportEvery time.Duration, reportUsage string) {
	c.common.register(fs, duration)
	fs.DurationVar(&c.reportEvery, "report-every", reportEvery, reportUsage)
	c.api.register(fs, "read API base URL (loopback only)")
	fs.StringVar(&c.projectorURL, "projector-url", "", "projector health/metrics base URL, e.g. http://127.0.0.1:8082 (optional)")
	fs.IntVar(&c.stations, "stations", 100, "stations to register and post to")
	fs.IntVar(&c.batch, "batch", 100, "measurements per request")
	fs.Float64Var(&c.rate, "rate", 0, "target measurements/s over all goroutines (0: as fast as possible)")
	fs.IntVar(&c.concurrency, "concurrency", 32, "posting goroutines")
	fs.StringVar(&c.pids, "pids", "", "comma-separated process ids whose RSS and CPU to report")
	fs.Float64Var(&c.probes, "probes", 2, "projection-lag probes per second")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 2*time.Minute, "how long to wait after the run for the read models to catch up")
	fs.StringVar(&c.prefix, "prefix", "", "station id and measurement id prefix (default: lg<unix time>)")
}

func (c *ingestConfig) check() error {
	if err := c.api.check(); err != nil {
		return err
	}
	if c.projectorURL != "" {
		var err error
		if c.projectorURL, err = checkLoopbackURL("projector-url", c.projectorURL); err != nil {
			return err
		}
	}
	if c.stations < 1 || c.batch < 1 || c.concurrency < 1 || c.rate < 0 {
		return errors.New("-stations, -batch and -concurrency must be positive, -rate not negative")
	}
	var err error
	if c.pidList, err = parsePIDs(c.pids); err != nil {
		return err
	}
	if c.prefix == "" {
		c.prefix = "lg" + strconv.FormatInt(time.Now().Unix(), 36)
	}
	return nil
}

// run is the load of either mode, bounded by -duration plus the drain.
func (c *ingestConfig) run(ctx context.Context, mode string) (*ingestResult, error) {
	ctx, done, err := c.start(ctx, c.drainTimeout+time.Minute)
	if err != nil {
		return nil, err
	}
	defer done()
	return ingest(ctx, *c, mode)
}

func runIngest(ctx context.Context, args []string) error {
	var c ingestConfig
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	c.register(fs, time.Minute, 0, "print and record throughput, lag and RSS this often (0: only at the end)")
	_ = fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	res, err := c.run(ctx, "ingest")
	if err != nil {
		return err
	}
	printIngest(res)
	return c.writeJSON(res)
}

// ingestResult is everything an ingest or soak run reports.
type ingestResult struct {
	Mode                string           `json:"mode"`
	Prefix              string           `json:"prefix"`
	Stations            int              `json:"stations"`
	Batch               int              `json:"batch"`
	Concurrency         int              `json:"concurrency"`
	TargetRate          float64          `json:"target_rate"`
	Seconds             float64          `json:"seconds"`
	Requests            int64            `json:"requests"`
	Accepted            int64            `json:"accepted"`
	Duplicates          int64            `json:"duplicates"`
	MeasurementsPerSec  float64          `json:"measurements_per_sec"`
	LateSlots           int64            `json:"late_slots"`
	Errors              map[string]int64 `json:"errors"`
	HTTP                summary          `json:"http_latency"`
	ServerHTTP          *serverLatency   `json:"server_http_latency,omitempty"`
	ProjectedPerSec     float64          `json:"projected_events_per_sec,omitempty"`
	LagAppended         summary          `json:"lag_from_201"`
	LagSent             summary          `json:"lag_from_send"`
	ProbeTimeouts       int64            `json:"probe_timeouts"`
	GaugeLag            summary          `json:"projector_lag_gauge"`
	CatchUpAfterStopSec float64          `json:"catch_up_after_stop_sec"`
	CPU                 procstat.Report  `json:"cpu"`
	Intervals           []intervalReport `json:"intervals,omitempty"`
	Verdict             []soakCheck      `json:"verdict,omitempty"`
}

func printIngest(r *ingestResult) {
	t := newTable(fmt.Sprintf("ingest: %d stations, batch %d, %d goroutines, target %s/s, %.0f s",
		r.Stations, r.Batch, r.Concurrency, rateString(r.TargetRate), r.Seconds))
	t.row("metric", "value")
	t.row("achieved measurements/s (accepted)", r.MeasurementsPerSec)
	t.row("requests / accepted / duplicates", fmt.Sprintf("%d / %d / %d", r.Requests, r.Accepted, r.Duplicates))
	t.row("slots started >100 ms late", r.LateSlots)
	if r.ProjectedPerSec > 0 {
		t.row("projected events/s (projector counter)", r.ProjectedPerSec)
	}
	t.row("HTTP latency p50 / p90 / p99 / max (ms, client)", fmt.Sprintf("%s / %s / %s / %s",
		fmtFloat(r.HTTP.P50), fmtFloat(r.HTTP.P90), fmtFloat(r.HTTP.P99), fmtFloat(r.HTTP.Max)))
	if s := r.ServerHTTP; s != nil {
		t.row("HTTP latency p50 / p99 (ms, server histogram)", fmt.Sprintf("%s / %s (%.1f%% <= 50 ms)", fmtFloat(s.P50ms), fmtFloat(s.P99ms), 100*s.Under50ms))
	}
	t.row("projection lag, 201 -> visible p50 / p99 / max (ms)", fmt.Sprintf("%s / %s / %s (n=%d, %d never seen)",
		fmtFloat(r.LagAppended.P50), fmtFloat(r.LagAppended.P99), fmtFloat(r.LagAppended.Max), r.LagAppended.N, r.ProbeTimeouts))
	t.row("projection lag, send -> visible p50 / p99 (ms)", fmt.Sprintf("%s / %s", fmtFloat(r.LagSent.P50), fmtFloat(r.LagSent.P99)))
	if r.GaugeLag.N > 0 {
		t.row("projector lag gauge p50 / p99 / max (ms)", fmt.Sprintf("%s / %s / %s", fmtFloat(r.GaugeLag.P50), fmtFloat(r.GaugeLag.P99), fmtFloat(r.GaugeLag.Max)))
	}
	t.row("catch-up after load stopped (s)", r.CatchUpAfterStopSec)
	if len(r.Errors) == 0 {
		t.row("errors", 0)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		t.row("errors: "+k, r.Errors[k])
	}
	t.flush()
	printProcs(r.CPU)
}

func rateString(r float64) string {
	if r == 0 {
		return "max"
	}
	return strconv.FormatFloat(r, 'f', 0, 64)
}
