package main

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/promtext"
)

// --- latency samples ---------------------------------------------------------

// samples collects durations from many goroutines; percentiles come from a
// sorted copy (a few hundred thousand samples at most: no sketch needed).
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *samples) addAll(ds []time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, ds...)
	s.mu.Unlock()
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

func (s *samples) summary() summary {
	s.mu.Lock()
	d := append([]time.Duration(nil), s.d...)
	s.mu.Unlock()
	return summarize(d)
}

func summarize(d []time.Duration) summary {
	if len(d) == 0 {
		return summary{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
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
	if i < 0 {
		i = 0
	}
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// watchProcesses starts watching pids' CPU and memory, sampled every second
// until ticks stop.
func watchProcesses(ticks *tickers, pids []int) *procstat.Watch {
	w := procstat.Start(pids)
	ticks.every(time.Second, w.Sample)
	return w
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

func round3(f float64) float64 {
	if math.IsNaN(f) {
		return f
	}
	return math.Round(f*1000) / 1000
}
