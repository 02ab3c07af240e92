package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
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

// --- Prometheus text scraping ------------------------------------------------

// series is one sample line of the text exposition format.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

func scrape(client *http.Client, url string) ([]series, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	var out []series
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		key := line[:sp]
		s := series{labels: map[string]string{}, value: v}
		if i := strings.IndexByte(key, '{'); i >= 0 {
			s.name = key[:i]
			parseLabels(strings.TrimSuffix(key[i+1:], "}"), s.labels)
		} else {
			s.name = key
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseLabels reads `a="x",b="y"` (values here never hold escaped quotes
// that matter: route templates and status codes).
func parseLabels(s string, into map[string]string) {
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return
		}
		name := s[:eq]
		rest := s[eq+2:]
		end := 0
		for end < len(rest) && !(rest[end] == '"' && (end == 0 || rest[end-1] != '\\')) {
			end++
		}
		if end >= len(rest) {
			return
		}
		into[name] = rest[:end]
		s = strings.TrimPrefix(rest[end+1:], ",")
	}
}

func gauge(ss []series, name string) (float64, bool) {
	for _, s := range ss {
		if s.name == name {
			return s.value, true
		}
	}
	return 0, false
}

// histogram is the cumulative bucket counts of one histogram, summed over
// the series that match.
type histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64 // cumulative
}

func histogramOf(ss []series, name string, match map[string]string) histogram {
	byLE := map[float64]float64{}
	for _, s := range ss {
		if s.name != name+"_bucket" {
			continue
		}
		ok := true
		for k, v := range match {
			if s.labels[k] != v {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err != nil {
			continue
		}
		byLE[le] += s.value
	}
	var h histogram
	for le := range byLE {
		h.bounds = append(h.bounds, le)
	}
	sort.Float64s(h.bounds)
	for _, le := range h.bounds {
		h.counts = append(h.counts, byLE[le])
	}
	return h
}

// minus returns h - before (the observations made between two scrapes).
func (h histogram) minus(before histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	prev := map[float64]float64{}
	for i, le := range before.bounds {
		prev[le] = before.counts[i]
	}
	for i, le := range h.bounds {
		out.counts[i] = h.counts[i] - prev[le]
	}
	return out
}

func (h histogram) total() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// quantile interpolates linearly inside the bucket that holds rank q, as
// Prometheus' histogram_quantile does; in the +Inf bucket it returns the
// highest finite bound.
func (h histogram) quantile(q float64) float64 {
	total := h.total()
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, le := range h.bounds {
		if h.counts[i] >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			inBucket := h.counts[i] - below
			if inBucket <= 0 {
				return le
			}
			return lower + (le-lower)*(rank-below)/inBucket
		}
		lower, below = le, h.counts[i]
	}
	return lower
}

// fractionBelow is the share of observations in buckets with bound <= le.
func (h histogram) fractionBelow(le float64) float64 {
	total := h.total()
	if total == 0 {
		return math.NaN()
	}
	var n float64
	for i, b := range h.bounds {
		if b <= le+1e-12 {
			n = h.counts[i]
		}
	}
	return n / total
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

func serverLatencyOf(before, after []series, method, route string) serverLatency {
	match := map[string]string{"method": method, "route": route}
	h := histogramOf(after, durationMetric, match).minus(histogramOf(before, durationMetric, match))
	return serverLatency{
		Route: route, Requests: h.total(),
		P50ms: round3(1000 * h.quantile(0.50)), P99ms: round3(1000 * h.quantile(0.99)),
		Under10ms: round3(h.fractionBelow(0.010)), Under50ms: round3(h.fractionBelow(0.050)),
		BucketNote: "interpolated within histogram buckets (.5,1,2.5,5,10,25,50,100 ms ...)",
	}
}

func round3(f float64) float64 {
	if math.IsNaN(f) {
		return f
	}
	return math.Round(f*1000) / 1000
}
