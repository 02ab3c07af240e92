package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
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

// --- /proc: memory and CPU of processes --------------------------------------

const clockTicks = 100 // USER_HZ on Linux

// procSample is what /proc says about one process at one instant.
type procSample struct {
	RSSKiB, HWMKiB int64
	CPUTicks       int64 // utime + stime
	OK             bool
}

func readProc(pid int) procSample {
	var s procSample
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			s.RSSKiB = kib(v)
		} else if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			s.HWMKiB = kib(v)
		}
	}
	f.Close()
	s.CPUTicks = cpuTicks(fmt.Sprintf("/proc/%d/stat", pid))
	s.OK = true
	return s
}

func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n
}

// cpuTicks reads utime+stime from a /proc/<pid>/stat file.
func cpuTicks(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

// machineCPU reads the aggregate busy and total ticks of /proc/stat.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest time is already counted in user
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// postgresCPU sums the CPU ticks of every process named "postgres" (the
// server and all its backends: on a shared machine this includes others' work).
func postgresCPU() int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum int64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		sum += cpuTicks("/proc/" + e.Name() + "/stat")
	}
	return sum
}

// procWatch samples processes every second while a run lasts.
type procWatch struct {
	pids    []int
	names   map[int]string
	mu      sync.Mutex
	maxRSS  map[int]int64
	first   map[int]procSample
	last    map[int]procSample
	start   time.Time
	m0, t0  int64
	pg0     int64
	self0   int64
	stop    chan struct{}
	stopped chan struct{}
}

func newProcWatch(pids []int, names map[int]string) *procWatch {
	w := &procWatch{pids: pids, names: names, maxRSS: map[int]int64{}, first: map[int]procSample{}, last: map[int]procSample{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	w.start = time.Now()
	w.m0, w.t0 = machineCPU()
	w.pg0 = postgresCPU()
	w.self0 = cpuTicks("/proc/self/stat")
	for _, p := range pids {
		s := readProc(p)
		w.first[p], w.last[p], w.maxRSS[p] = s, s, s.RSSKiB
	}
	go w.loop()
	return w
}

func (w *procWatch) loop() {
	defer close(w.stopped)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			w.sample()
			return
		case <-t.C:
			w.sample()
		}
	}
}

func (w *procWatch) sample() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.pids {
		s := readProc(p)
		if !s.OK {
			continue
		}
		w.last[p] = s
		if s.RSSKiB > w.maxRSS[p] {
			w.maxRSS[p] = s.RSSKiB
		}
	}
}

// currentRSS is each watched process's RSS at the latest sample, by name.
func (w *procWatch) currentRSS() map[string]float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]float64, len(w.pids))
	for _, p := range w.pids {
		out[w.names[p]] = float64(w.last[p].RSSKiB) / 1024
	}
	return out
}

// procReport is one process's memory and CPU over a run.
type procReport struct {
	PID       int     `json:"pid"`
	Name      string  `json:"name"`
	MaxRSSMiB float64 `json:"max_rss_mib"`
	HWMMiB    float64 `json:"peak_rss_hwm_mib"`
	CPUCores  float64 `json:"cpu_cores"`
	// FirstRSSMiB and LastRSSMiB are the first and last samples: growth
	// over a soak run.
	FirstRSSMiB float64 `json:"first_rss_mib"`
	LastRSSMiB  float64 `json:"last_rss_mib"`
}

// cpuReport is where the machine's CPU went during a run.
type cpuReport struct {
	MachineBusyPct float64      `json:"machine_busy_pct"`
	OtherCores     float64      `json:"other_cores"`
	PostgresCores  float64      `json:"postgres_cores"`
	LoadgenCores   float64      `json:"loadgen_cores"`
	Processes      []procReport `json:"processes"`
}

func (w *procWatch) finish() cpuReport {
	close(w.stop)
	<-w.stopped
	secs := time.Since(w.start).Seconds()
	m1, t1 := machineCPU()
	r := cpuReport{
		PostgresCores: float64(postgresCPU()-w.pg0) / clockTicks / secs,
		LoadgenCores:  float64(cpuTicks("/proc/self/stat")-w.self0) / clockTicks / secs,
	}
	if t1 > w.t0 {
		r.MachineBusyPct = 100 * float64(m1-w.m0) / float64(t1-w.t0)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ours := r.PostgresCores + r.LoadgenCores
	for _, p := range w.pids {
		pr := procReport{
			PID: p, Name: w.names[p],
			MaxRSSMiB: float64(w.maxRSS[p]) / 1024, HWMMiB: float64(w.last[p].HWMKiB) / 1024,
			FirstRSSMiB: float64(w.first[p].RSSKiB) / 1024, LastRSSMiB: float64(w.last[p].RSSKiB) / 1024,
			CPUCores: float64(w.last[p].CPUTicks-w.first[p].CPUTicks) / clockTicks / secs,
		}
		ours += pr.CPUCores
		r.Processes = append(r.Processes, pr)
	}
	// Whatever else ran: kernel threads, other people's work on a shared machine.
	r.OtherCores = r.MachineBusyPct/100*float64(runtime.NumCPU()) - ours
	return r
}

func procName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
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
