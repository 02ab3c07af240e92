package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
)

// soakLimits are what a soak run must stay within to pass.
type soakLimits struct {
	minRateRatio float64       // achieved / target rate
	maxLag       time.Duration // projection lag p99, 201 -> visible in the read API
	maxCatchUp   time.Duration // after the load stops, until a fresh measurement is visible
	maxRSSMiB    float64       // any watched process, any sample
	maxGrowth    float64       // RSS growth over the second half of the run, as a fraction
}

// window gathers one reporting interval's latencies; the reporter swaps it
// for an empty one at each tick.
type window struct {
	mu       sync.Mutex
	http     []time.Duration
	lag      []time.Duration
	gaugeMax time.Duration
}

func (w *window) addHTTP(d time.Duration) {
	w.mu.Lock()
	w.http = append(w.http, d)
	w.mu.Unlock()
}

func (w *window) addLag(d time.Duration) {
	w.mu.Lock()
	w.lag = append(w.lag, d)
	w.mu.Unlock()
}

func (w *window) addGauge(d time.Duration) {
	w.mu.Lock()
	w.gaugeMax = max(w.gaugeMax, d)
	w.mu.Unlock()
}

func (w *window) take() (http, lag []time.Duration, gaugeMax time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	http, lag, gaugeMax = w.http, w.lag, w.gaugeMax
	w.http, w.lag, w.gaugeMax = nil, nil, 0
	return
}

// intervalReport is one reporting interval of a long run: enough to see a
// trend (throughput falling, lag or memory climbing) that a whole-run
// summary hides.
type intervalReport struct {
	EndSec             float64            `json:"end_sec"`
	MeasurementsPerSec float64            `json:"measurements_per_sec"`
	Errors             int64              `json:"errors"`
	LateSlots          int64              `json:"late_slots"`
	HTTPP99ms          float64            `json:"http_p99_ms"`
	LagP99ms           float64            `json:"lag_p99_ms"`
	LagN               int                `json:"lag_n"`
	GaugeLagMaxMs      float64            `json:"projector_lag_gauge_max_ms"`
	RSSMiB             map[string]float64 `json:"rss_mib"`
}

// counters are the running totals the reporter takes differences of.
type counters struct{ accepted, errors, late int64 }

// reportIntervals prints and records one intervalReport every `every` until
// stop is closed, then once more for the partial last interval.
func reportIntervals(every time.Duration, start time.Time, read func() counters, win *window, watch *procstat.Watch,
	stop <-chan struct{}, record func(intervalReport)) {
	t := time.NewTicker(every)
	defer t.Stop()
	prev, prevAt := read(), start
	emit := func(now time.Time) {
		cur := read()
		secs := now.Sub(prevAt).Seconds()
		if secs <= 0 {
			return
		}
		httpD, lagD, gmax := win.take()
		r := intervalReport{
			EndSec:             now.Sub(start).Seconds(),
			MeasurementsPerSec: float64(cur.accepted-prev.accepted) / secs,
			Errors:             cur.errors - prev.errors,
			LateSlots:          cur.late - prev.late,
			HTTPP99ms:          summarize(httpD).P99,
			LagP99ms:           summarize(lagD).P99,
			LagN:               len(lagD),
			GaugeLagMaxMs:      ms(gmax),
			RSSMiB:             watch.RSS(),
		}
		prev, prevAt = cur, now
		record(r)
		fmt.Fprintf(os.Stderr, "%6.0fs  %8.0f meas/s  errors %d  late %d  http p99 %s ms  lag p99 %s ms (n=%d)  gauge max %s ms  rss %v\n",
			r.EndSec, r.MeasurementsPerSec, r.Errors, r.LateSlots, fmtFloat(r.HTTPP99ms), fmtFloat(r.LagP99ms), r.LagN,
			fmtFloat(r.GaugeLagMaxMs), r.RSSMiB)
	}
	for {
		select {
		case <-stop:
			// The load ends at a tick; a sliver of an interval after it
			// would only report noise.
			if now := time.Now(); now.Sub(prevAt) >= every/4 {
				emit(now)
			}
			return
		case now := <-t.C:
			emit(now)
		}
	}
}

// soakCheck is one pass/fail line of a soak verdict.
type soakCheck struct {
	Name  string `json:"name"`
	Limit string `json:"limit"`
	Value string `json:"value"`
	Pass  bool   `json:"pass"`
}

// judgeSoak compares a finished run with the limits.
func judgeSoak(r *ingestResult, l soakLimits) []soakCheck {
	var errs int64
	for _, n := range r.Errors {
		errs += n
	}
	checks := []soakCheck{
		{"errors (transport and non-201)", "0", fmt.Sprint(errs), errs == 0},
		{"achieved rate", fmt.Sprintf(">= %.0f%% of %.0f/s", 100*l.minRateRatio, r.TargetRate),
			fmt.Sprintf("%.0f/s (%.1f%%)", r.MeasurementsPerSec, 100*r.MeasurementsPerSec/r.TargetRate),
			r.MeasurementsPerSec >= l.minRateRatio*r.TargetRate},
		{"projection lag p99 (201 -> visible)", "<= " + l.maxLag.String(), fmt.Sprintf("%s ms (n=%d)", fmtFloat(r.LagAppended.P99), r.LagAppended.N),
			r.LagAppended.N > 0 && r.LagAppended.P99 <= ms(l.maxLag)},
		{"probes never seen", "0", fmt.Sprint(r.ProbeTimeouts), r.ProbeTimeouts == 0},
		{"catch-up after the load stopped", "<= " + l.maxCatchUp.String(), fmt.Sprintf("%.2f s", r.CatchUpAfterStopSec),
			r.CatchUpAfterStopSec >= 0 && r.CatchUpAfterStopSec <= l.maxCatchUp.Seconds()},
	}
	for _, p := range r.CPU.Processes {
		checks = append(checks, soakCheck{p.Name + " peak RSS", fmt.Sprintf("<= %.0f MiB", l.maxRSSMiB),
			fmt.Sprintf("%.1f MiB", p.MaxRSSMiB), p.MaxRSSMiB <= l.maxRSSMiB})
		mid, last, ok := halfwayRSS(r.Intervals, p.Name)
		if !ok {
			continue
		}
		growth := (last - mid) / mid
		checks = append(checks, soakCheck{p.Name + " RSS growth over the second half", fmt.Sprintf("<= %.0f%%", 100*l.maxGrowth),
			fmt.Sprintf("%.1f -> %.1f MiB (%+.1f%%)", mid, last, 100*growth), growth <= l.maxGrowth})
	}
	return checks
}

// halfwayRSS is a process's RSS at the interval closest to half time and at
// the last one.
func halfwayRSS(iv []intervalReport, name string) (mid, last float64, ok bool) {
	if len(iv) < 4 {
		return 0, 0, false
	}
	mid, last = iv[len(iv)/2-1].RSSMiB[name], iv[len(iv)-1].RSSMiB[name]
	return mid, last, mid > 0 && last > 0
}

func printVerdict(checks []soakCheck) bool {
	pass := true
	t := newTable("soak verdict")
	t.row("check", "limit", "value", "result")
	for _, c := range checks {
		res := "pass"
		if !c.Pass {
			res, pass = "FAIL", false
		}
		t.row(c.Name, c.Limit, c.Value, res)
	}
	t.flush()
	if pass {
		fmt.Println("\nSOAK PASSED")
	} else {
		fmt.Println("\nSOAK FAILED")
	}
	return pass
}

// errSoakFailed makes loadgen exit 1 after printing a failed verdict.
var errSoakFailed = errors.New("soak failed: see the verdict above")

// runSoak is ingest held at -rate (say half of peak) for 30 minutes by
// default, reported every minute and judged against limits at the end.
func runSoak(ctx context.Context, args []string) error {
	return runIngestMode(ctx, "soak", args)
}
