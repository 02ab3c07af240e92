package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/promtext"
)

// This file is the reporting every mode shares: latency samples and their
// percentiles, the server's own latency histogram, CPU and memory, the
// printed tables and the JSON report.

// samples collects durations from many goroutines; percentiles come from a
// sorted copy (a few hundred thousand samples at most: no sketch needed).
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(ds ...time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, ds...)
	s.mu.Unlock()
}

func (s *samples) summary() summary {
	s.mu.Lock()
	d := slices.Clone(s.d)
	s.mu.Unlock()
	return summarize(d)
}

// take returns the samples so far and starts afresh.
func (s *samples) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	s.d = nil
	return d
}

// summary is the distribution of a set of durations, in milliseconds.
type summary struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// summarize sorts d in place.
func summarize(d []time.Duration) summary {
	if len(d) == 0 {
		return summary{}
	}
	slices.Sort(d)
	var total time.Duration
	for _, x := range d {
		total += x
	}
	return summary{
		N: len(d), P50: ms(quantile(d, 0.50)), P90: ms(quantile(d, 0.90)), P99: ms(quantile(d, 0.99)),
		Max: ms(d[len(d)-1]), Mean: ms(total / time.Duration(len(d))),
	}
}

// quantile of sorted d by the nearest-rank method.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func round3(f float64) float64 {
	if math.IsNaN(f) {
		return f
	}
	return math.Round(f*1000) / 1000
}

// serverLatency is a route's latency as the server's own histogram saw it.
type serverLatency struct {
	Route      string  `json:"route"`
	Requests   float64 `json:"requests"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Under10ms  float64 `json:"share_under_10ms"`
	Under50ms  float64 `json:"share_under_50ms"`
	BucketNote string  `json:"note"`
}

const durationMetric = "fleetpulse_http_request_duration_seconds"

// serverLatencyOf is a route's latency between two scrapes of a service's /metrics.
func serverLatencyOf(before, after []promtext.Sample, method, route string) serverLatency {
	match := map[string]string{"method": method, "route": route}
	h := promtext.HistogramOf(after, durationMetric, match).Minus(promtext.HistogramOf(before, durationMetric, match))
	return serverLatency{
		Route: route, Requests: h.Total(),
		P50ms: round3(1000 * h.Quantile(0.50)), P99ms: round3(1000 * h.Quantile(0.99)),
		Under10ms: round3(h.FractionBelow(0.010)), Under50ms: round3(h.FractionBelow(0.050)),
		BucketNote: "interpolated within histogram buckets (.5,1,2.5,5,10,25,50,100 ms ...)",
	}
}

// watchProcesses starts watching pids' CPU and memory, sampled every second
// until ticks stop.
func watchProcesses(ticks *tickers, pids []int) *procstat.Watch {
	w := procstat.Start(pids)
	ticks.every(time.Second, w.Sample)
	return w
}

// --- printing ----------------------------------------------------------------

type table struct {
	w *tabwriter.Writer
}

func newTable(title string) *table {
	fmt.Printf("\n== %s ==\n", title)
	return &table{w: tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)}
}

func (t *table) row(cols ...any) {
	for i, c := range cols {
		if i > 0 {
			fmt.Fprint(t.w, "\t")
		}
		switch v := c.(type) {
		case float64:
			fmt.Fprint(t.w, fmtFloat(v))
		default:
			fmt.Fprint(t.w, v)
		}
	}
	fmt.Fprintln(t.w)
}

func (t *table) flush() { _ = t.w.Flush() }

func fmtFloat(v float64) string {
	switch {
	case v != v:
		return "n/a"
	case v >= 1000 || v <= -1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func printProcs(c procstat.Report) {
	t := newTable("CPU and memory during the run")
	t.row("process", "pid", "cpu (cores)", "max RSS (MiB)", "peak RSS VmHWM (MiB)", "RSS first -> last (MiB)")
	for _, p := range c.Processes {
		t.row(p.Name, p.PID, p.CPUCores, p.MaxRSSMiB, p.HWMMiB, fmt.Sprintf("%.1f -> %.1f", p.FirstRSSMiB, p.LastRSSMiB))
	}
	t.row("all postgres processes", "-", c.PostgresCores, "-", "-", "-")
	t.row("loadgen itself", os.Getpid(), c.LoadgenCores, "-", "-", "-")
	t.row("machine busy (% of all cores)", "-", c.MachineBusyPct, "-", "-", "-")
	t.row("everything else (kernel threads, other work)", "-", c.OtherCores, "-", "-")
	t.flush()
}

// writeJSON writes a mode's results to -json, when it is set.
func (c *common) writeJSON(v any) error {
	if c.jsonOut == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if c.jsonOut == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(c.jsonOut, b, 0o644)
}
