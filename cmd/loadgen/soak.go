package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"
)

// runSoak is ingest held at -rate (say half of peak) for 30 minutes by
// default, reported every minute and judged against limits at the end.
func runSoak(ctx context.Context, args []string) error {
	var (
		c      ingestConfig
		limits soakLimits
	)
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	c.register(fs, 30*time.Minute, time.Minute, "print and record throughput, lag and RSS this often")
	limits.register(fs)
	_ = fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	if c.rate <= 0 {
		return errors.New("soak needs -rate (measure the peak with ingest first, then soak at half of it)")
	}
	res, err := c.run(ctx, "soak")
	if err != nil {
		return err
	}
	printIngest(res)
	res.Verdict = judgeSoak(res, limits)
	passed := printVerdict(res.Verdict)
	if err := c.writeJSON(res); err != nil {
		return err
	}
	if !passed {
		return errSoakFailed
	}
	return nil
}

// errSoakFailed makes loadgen exit 1 after printing a failed verdict.
var errSoakFailed = errors.New("soak failed: see the verdict above")

// soakLimits are what a soak run must stay within to pass.
type soakLimits struct {
	minRateRatio float64       // achieved / target rate
	maxLag       time.Duration // projection lag p99, 201 -> visible in the read API
	maxCatchUp   time.Duration // after the load stops, until a fresh measurement is visible
	maxRSSMiB    float64       // any watched process, any sample
	maxGrowth    float64       // RSS growth over the second half of the run, as a fraction
}

func (l *soakLimits) register(fs *flag.FlagSet) {
	fs.Float64Var(&l.minRateRatio, "min-rate-ratio", 0.98, "pass only if achieved/target rate is at least this")
	fs.DurationVar(&l.maxLag, "max-lag", 2*time.Second, "pass only if projection lag p99 is at most this")
	fs.DurationVar(&l.maxCatchUp, "max-catch-up", 10*time.Second, "pass only if the read models catch up this soon after the load stops")
	fs.Float64Var(&l.maxRSSMiB, "max-rss-mib", 300, "pass only if every -pids process stays under this RSS")
	fs.Float64Var(&l.maxGrowth, "max-rss-growth", 0.25, "pass only if RSS grows at most this fraction over the second half of the run")
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
