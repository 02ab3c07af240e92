package procstat

import (
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Watch follows a set of processes from Start to Finish. Its owner calls
// Sample on a ticker (every second in loadgen) to catch peaks between.
type Watch struct {
	pids   []int
	names  map[int]string
	start  time.Time
	m0, t0 int64 // machine busy and total ticks at start
	pg0    int64
	self0  int64

	mu     sync.Mutex
	maxRSS map[int]int64
	first  map[int]sample
	last   map[int]sample
}

// Start takes the first sample of pids, the machine, PostgreSQL and this process.
func Start(pids []int) *Watch {
	w := &Watch{pids: pids, names: map[int]string{}, maxRSS: map[int]int64{}, first: map[int]sample{}, last: map[int]sample{}}
	for _, p := range pids {
		w.names[p] = processName(strconv.Itoa(p))
	}
	w.start = time.Now()
	w.m0, w.t0 = machineCPU()
	w.pg0 = postgresCPU()
	w.self0 = cpuTicks("/proc/self/stat")
	for _, p := range pids {
		s := readProc(p)
		w.first[p], w.last[p], w.maxRSS[p] = s, s, s.rssKiB
	}
	return w
}

// Sample reads the watched processes' memory and CPU now.
func (w *Watch) Sample() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.pids {
		s := readProc(p)
		if !s.ok {
			continue
		}
		w.last[p] = s
		if s.rssKiB > w.maxRSS[p] {
			w.maxRSS[p] = s.rssKiB
		}
	}
}

// RSS is each watched process's RSS in MiB at the latest sample, by name.
func (w *Watch) RSS() map[string]float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]float64, len(w.pids))
	for _, p := range w.pids {
		out[w.names[p]] = float64(w.last[p].rssKiB) / 1024
	}
	return out
}

// Process is one process's memory and CPU over a run.
type Process struct {
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

// Report is where the machine's CPU went during a run.
type Report struct {
	MachineBusyPct float64   `json:"machine_busy_pct"`
	OtherCores     float64   `json:"other_cores"`
	PostgresCores  float64   `json:"postgres_cores"`
	LoadgenCores   float64   `json:"loadgen_cores"`
	Processes      []Process `json:"processes"`
}

// Finish takes a last sample and reports the run from Start until now.
func (w *Watch) Finish() Report {
	w.Sample()
	secs := time.Since(w.start).Seconds()
	m1, t1 := machineCPU()
	r := Report{
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
		pr := Process{
			PID: p, Name: w.names[p],
			MaxRSSMiB: float64(w.maxRSS[p]) / 1024, HWMMiB: float64(w.last[p].hwmKiB) / 1024,
			FirstRSSMiB: float64(w.first[p].rssKiB) / 1024, LastRSSMiB: float64(w.last[p].rssKiB) / 1024,
			CPUCores: float64(w.last[p].cpuTicks-w.first[p].cpuTicks) / clockTicks / secs,
		}
		ours += pr.CPUCores
		r.Processes = append(r.Processes, pr)
	}
	// Whatever else ran: kernel threads, other people's work on a shared machine.
	r.OtherCores = r.MachineBusyPct/100*float64(runtime.NumCPU()) - ours
	return r
}
