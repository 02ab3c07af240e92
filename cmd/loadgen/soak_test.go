package main

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
)

func TestJudgeSoak_EachBrokenLimitFailsItsOwnCheck(t *testing.T) {
	limits := soakLimits{minRateRatio: 0.98, maxLag: 2 * time.Second, maxCatchUp: 10 * time.Second, maxRSSMiB: 300, maxGrowth: 0.25}
	// healthy is a run that meets every limit: steady memory, small lag.
	healthy := func() *ingestResult {
		r := &ingestResult{
			TargetRate: 7000, MeasurementsPerSec: 6990, Errors: map[string]int64{},
			LagAppended: summary{N: 3600, P99: 150}, CatchUpAfterStopSec: 0.05,
			CPU: procstat.Report{Processes: []procstat.Process{{Name: "command-api", MaxRSSMiB: 60}, {Name: "projector", MaxRSSMiB: 40}}},
		}
		for i := 0; i < 30; i++ {
			r.Intervals = append(r.Intervals, intervalReport{RSSMiB: map[string]float64{"command-api": 50, "projector": 30 + float64(i)/10}})
		}
		return r
	}
	tests := []struct {
		name   string
		breaks func(r *ingestResult)
		failed string // the only check expected to fail; "" for none
	}{
		{"healthy run", func(*ingestResult) {}, ""},
		{"one 503", func(r *ingestResult) { r.Errors["status 503"] = 1 }, "errors"},
		{"a transport error", func(r *ingestResult) { r.Errors["transport: timeout"] = 2 }, "errors"},
		{"rate fell short", func(r *ingestResult) { r.MeasurementsPerSec = 6000 }, "achieved rate"},
		{"lag p99 above the limit", func(r *ingestResult) { r.LagAppended.P99 = 2001 }, "projection lag"},
		{"no lag measured at all", func(r *ingestResult) { r.LagAppended = summary{} }, "projection lag"},
		{"a probe never became visible", func(r *ingestResult) { r.ProbeTimeouts = 1 }, "probes never seen"},
		{"read models never caught up", func(r *ingestResult) { r.CatchUpAfterStopSec = -1 }, "catch-up"},
		{"catch-up too slow", func(r *ingestResult) { r.CatchUpAfterStopSec = 11 }, "catch-up"},
		{"a process above the RSS limit", func(r *ingestResult) { r.CPU.Processes[1].MaxRSSMiB = 301 }, "projector peak RSS"},
		{"memory still growing in the second half", func(r *ingestResult) {
			for i := len(r.Intervals) / 2; i < len(r.Intervals); i++ {
				r.Intervals[i].RSSMiB["command-api"] = 50 + float64(i)
			}
		}, "command-api RSS growth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := healthy()
			tt.breaks(r)
			var failed []string
			for _, c := range judgeSoak(r, limits) {
				if !c.Pass {
					failed = append(failed, c.Name)
				}
			}
			switch {
			case tt.failed == "" && len(failed) > 0:
				t.Fatalf("failed %q, want every check to pass", failed)
			case tt.failed != "" && (len(failed) != 1 || !strings.HasPrefix(failed[0], tt.failed)):
				t.Fatalf("failed %q, want only %q", failed, tt.failed)
			}
		})
	}
}

func TestJudgeSoak_ShortRunsHaveNoGrowthCheck(t *testing.T) {
	r := &ingestResult{TargetRate: 1, MeasurementsPerSec: 1, LagAppended: summary{N: 1},
		CPU:       procstat.Report{Processes: []procstat.Process{{Name: "read-api", MaxRSSMiB: 20}}},
		Intervals: []intervalReport{{RSSMiB: map[string]float64{"read-api": 10}}, {RSSMiB: map[string]float64{"read-api": 40}}}}
	for _, c := range judgeSoak(r, soakLimits{minRateRatio: 1, maxLag: time.Second, maxCatchUp: time.Second, maxRSSMiB: 100, maxGrowth: 0.1}) {
		if strings.Contains(c.Name, "growth") {
			t.Fatalf("growth judged from %d intervals: %+v", len(r.Intervals), c)
		}
	}
}
