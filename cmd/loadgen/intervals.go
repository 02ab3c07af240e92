package main

import (
	"fmt"
	"os"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
)

// window gathers one reporting interval's latencies; the reporter empties
// it at each tick.
type window struct {
	http, lag, gauge samples
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

// intervalReporter prints and records an intervalReport at every tick.
type intervalReporter struct {
	every   time.Duration
	start   time.Time
	read    func() counters
	win     *window
	watch   *procstat.Watch
	prev    counters
	prevAt  time.Time
	reports []intervalReport
}

func newIntervalReporter(every time.Duration, start time.Time, read func() counters, win *window, watch *procstat.Watch) *intervalReporter {
	return &intervalReporter{every: every, start: start, read: read, win: win, watch: watch, prev: read(), prevAt: start}
}

func (r *intervalReporter) tick() { r.emit(time.Now()) }

// finish reports the partial last interval and returns every interval. The
// load ends at a tick; a sliver of an interval after it would only report
// noise.
func (r *intervalReporter) finish() []intervalReport {
	if now := time.Now(); now.Sub(r.prevAt) >= r.every/4 {
		r.emit(now)
	}
	return r.reports
}

func (r *intervalReporter) emit(now time.Time) {
	cur := r.read()
	secs := now.Sub(r.prevAt).Seconds()
	if secs <= 0 {
		return
	}
	lag := r.win.lag.take()
	ir := intervalReport{
		EndSec:             now.Sub(r.start).Seconds(),
		MeasurementsPerSec: float64(cur.accepted-r.prev.accepted) / secs,
		Errors:             cur.errors - r.prev.errors,
		LateSlots:          cur.late - r.prev.late,
		HTTPP99ms:          summarize(r.win.http.take()).P99,
		LagP99ms:           summarize(lag).P99,
		LagN:               len(lag),
		GaugeLagMaxMs:      summarize(r.win.gauge.take()).Max,
		RSSMiB:             r.watch.RSS(),
	}
	r.prev, r.prevAt = cur, now
	r.reports = append(r.reports, ir)
	fmt.Fprintf(os.Stderr, "%6.0fs  %8.0f meas/s  errors %d  late %d  http p99 %s ms  lag p99 %s ms (n=%d)  gauge max %s ms  rss %v\n",
		ir.EndSec, ir.MeasurementsPerSec, ir.Errors, ir.LateSlots, fmtFloat(ir.HTTPP99ms), fmtFloat(ir.LagP99ms), ir.LagN,
		fmtFloat(ir.GaugeLagMaxMs), ir.RSSMiB)
}
