package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/promtext"
)

var measurementTypes = []string{"pm25", "pm10", "no2", "temperature", "humidity"}

type ingestConfig struct {
	common
	url, readURL, projectorURL, admin string
	stations, batch, concurrency      int
	rate                              float64
	pids                              string
	probes                            float64
	drainTimeout                      time.Duration
	prefix                            string
	reportEvery                       time.Duration
	limits                            soakLimits
}

// ingestResult is everything an ingest run reports.
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

func runIngest(ctx context.Context, args []string) error {
	return runIngestMode(ctx, "ingest", args)
}

// runIngestMode is the ingest and soak modes: soak has a longer default
// duration, reports every minute and ends with a verdict.
func runIngestMode(ctx context.Context, mode string, args []string) error {
	var c ingestConfig
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	soak := mode == "soak"
	if soak {
		c.register(fs, 30*time.Minute)
		fs.DurationVar(&c.reportEvery, "report-every", time.Minute, "print and record throughput, lag and RSS this often")
		fs.Float64Var(&c.limits.minRateRatio, "min-rate-ratio", 0.98, "pass only if achieved/target rate is at least this")
		fs.DurationVar(&c.limits.maxLag, "max-lag", 2*time.Second, "pass only if projection lag p99 is at most this")
		fs.DurationVar(&c.limits.maxCatchUp, "max-catch-up", 10*time.Second, "pass only if the read models catch up this soon after the load stops")
		fs.Float64Var(&c.limits.maxRSSMiB, "max-rss-mib", 300, "pass only if every -pids process stays under this RSS")
		fs.Float64Var(&c.limits.maxGrowth, "max-rss-growth", 0.25, "pass only if RSS grows at most this fraction over the second half of the run")
	} else {
		c.register(fs, time.Minute)
		fs.DurationVar(&c.reportEvery, "report-every", 0, "print and record throughput, lag and RSS this often (0: only at the end)")
	}
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "command API base URL (loopback only)")
	fs.StringVar(&c.readURL, "read-url", "http://127.0.0.1:8081", "read API base URL (loopback only)")
	fs.StringVar(&c.projectorURL, "projector-url", "", "projector health/metrics base URL, e.g. http://127.0.0.1:8082 (optional)")
	fs.StringVar(&c.admin, "admin-token", os.Getenv("FLEETPULSE_ADMIN_TOKEN"), "operator token (default $FLEETPULSE_ADMIN_TOKEN)")
	fs.IntVar(&c.stations, "stations", 100, "stations to register and post to")
	fs.IntVar(&c.batch, "batch", 100, "measurements per request")
	fs.Float64Var(&c.rate, "rate", 0, "target measurements/s over all goroutines (0: as fast as possible)")
	fs.IntVar(&c.concurrency, "concurrency", 32, "posting goroutines")
	fs.StringVar(&c.pids, "pids", "", "comma-separated process ids whose RSS and CPU to report")
	fs.Float64Var(&c.probes, "probes", 2, "projection-lag probes per second")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 2*time.Minute, "how long to wait after the run for the read models to catch up")
	fs.StringVar(&c.prefix, "prefix", "", "station id and measurement id prefix (default: lg<unix time>)")
	_ = fs.Parse(args)

	var err error
	if c.url, err = checkLoopbackURL("url", c.url); err != nil {
		return err
	}
	if c.readURL, err = checkLoopbackURL("read-url", c.readURL); err != nil {
		return err
	}
	if c.projectorURL != "" {
		if c.projectorURL, err = checkLoopbackURL("projector-url", c.projectorURL); err != nil {
			return err
		}
	}
	if c.admin == "" {
		return errors.New("-admin-token is required")
	}
	if c.stations < 1 || c.batch < 1 || c.concurrency < 1 || c.rate < 0 {
		return errors.New("-stations, -batch and -concurrency must be positive, -rate not negative")
	}
	if soak && c.rate <= 0 {
		return errors.New("soak needs -rate (measure the peak with ingest first, then soak at half of it)")
	}
	pids, err := parsePIDs(c.pids)
	if err != nil {
		return err
	}
	if c.prefix == "" {
		c.prefix = "lg" + strconv.FormatInt(time.Now().Unix(), 36)
	}
	ctx, done, err := c.start(ctx, c.drainTimeout+time.Minute)
	if err != nil {
		return err
	}
	defer done()
	res, err := ingest(ctx, c, pids)
	if err != nil {
		return err
	}
	res.Mode = mode
	printIngest(res)
	passed := true
	if soak {
		res.Verdict = judgeSoak(res, c.limits)
		passed = printVerdict(res.Verdict)
	}
	if err := c.writeJSON(res); err != nil {
		return err
	}
	if !passed {
		return errSoakFailed
	}
	return nil
}

type probe struct {
	station string
	at      time.Time
	sent    time.Time
	created time.Time
}

func ingest(ctx context.Context, c ingestConfig, pids []int) (*ingestResult, error) {
	client := httpClient(c.concurrency+32, 30*time.Second)

	// Register the fleet, a few at a time.
	ids := make([]string, c.stations)
	tokens := make([]string, c.stations)
	fmt.Fprintf(os.Stderr, "registering %d stations (%s-s*)...\n", c.stations, c.prefix)
	var regErr error
	var regMu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-s%04d", c.prefix, i)
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			tok, err := registerStation(ctx, client, c.url, c.admin, ids[i], zones[i%len(zones)])
			regMu.Lock()
			defer regMu.Unlock()
			if err != nil && regErr == nil {
				regErr = err
			}
			tokens[i] = tok
		}(i)
	}
	wg.Wait()
	if regErr != nil {
		return nil, regErr
	}
	// The lag probes ask the read API about these stations: wait until it knows them.
	for _, id := range []string{ids[0], ids[len(ids)-1]} {
		if err := waitFor(ctx, 60*time.Second, func() bool {
			st, err := get(ctx, client, c.readURL+"/v1/stations/"+id, nil)
			return err == nil && st == http.StatusOK
		}); err != nil {
			return nil, fmt.Errorf("read API never showed station %s: %w", id, err)
		}
	}

	cmdBefore, _ := promtext.Scrape(client, c.url+"/metrics")
	var projBefore []promtext.Sample
	if c.projectorURL != "" {
		projBefore, _ = promtext.Scrape(client, c.projectorURL+"/metrics")
	}

	res := &ingestResult{Mode: "ingest", Prefix: c.prefix, Stations: c.stations, Batch: c.batch,
		Concurrency: c.concurrency, TargetRate: c.rate, Errors: map[string]int64{}}
	var (
		requests, late                 atomic.Int64
		tally                          acceptedTally
		win                            window
		slot, rr                       atomic.Int64
		httpLat                        samples
		lagAppended, lagSent, gaugeLag samples
		probeTimeouts                  atomic.Int64
	)
	errs := newErrorTally(res.Errors)

	ticks := newTickers()
	watch := watchProcesses(ticks, pids)
	start := time.Now()
	deadline := start.Add(c.duration)
	interval := time.Duration(0)
	if c.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(c.batch) / c.rate)
	}
	// Requests in flight at the deadline finish; only SIGINT cuts them short.
	reqCtx := ctx

	probeReq := make(chan struct{}, 1)
	probes := make(chan probe, 1024)
	var pollers sync.WaitGroup
	pollCtx, stopPolling := context.WithTimeout(context.WithoutCancel(ctx), c.duration+c.drainTimeout)
	defer stopPolling()
	pollProbe := func(p probe) (time.Time, bool) {
		q := url.Values{"type": {"probe"}, "from": {p.at.Format(time.RFC3339Nano)},
			"to": {p.at.Add(time.Microsecond).Format(time.RFC3339Nano)}}
		u := c.readURL + "/v1/stations/" + p.station + "/measurements?" + q.Encode()
		for pollCtx.Err() == nil {
			var out struct {
				Points []struct{} `json:"points"`
			}
			st, err := get(pollCtx, client, u, &out)
			if err == nil && st == http.StatusOK && len(out.Points) > 0 {
				return time.Now(), true
			}
			// Poll every 10 ms at first, then at 5 % of the wait so far: the
			// lag stays measured to within ~5 %, and a system that has fallen
			// behind is not also flooded by its own probes' polling.
			wait := max(10*time.Millisecond, min(time.Since(p.created)/20, 500*time.Millisecond))
			select {
			case <-pollCtx.Done():
			case <-time.After(wait):
			}
		}
		return time.Time{}, false
	}
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for p := range probes {
			pollers.Add(1)
			go func(p probe) {
				defer pollers.Done()
				seen, ok := pollProbe(p)
				if !ok {
					probeTimeouts.Add(1)
					return
				}
				lagAppended.add(seen.Sub(p.created))
				win.addLag(seen.Sub(p.created))
				lagSent.add(seen.Sub(p.sent))
			}(p)
		}
	}()
	if c.probes > 0 {
		ticks.every(time.Duration(float64(time.Second)/c.probes), func() {
			select {
			case probeReq <- struct{}{}:
			default:
			}
		})
	}
	if c.projectorURL != "" {
		ticks.every(time.Second, func() {
			if ss, err := promtext.Scrape(client, c.projectorURL+"/metrics"); err == nil {
				if v, ok := promtext.Value(ss, "fleetpulse_projection_lag_seconds"); ok {
					lag := time.Duration(v * float64(time.Second))
					gaugeLag.add(lag)
					win.addGauge(lag)
				}
			}
		})
	}

	if c.reportEvery > 0 {
		ticks.wg.Go(func() {
			read := func() counters { return counters{tally.accepted.Load(), errs.total.Load(), late.Load()} }
			reportIntervals(c.reportEvery, start, read, &win, watch, ticks.done, func(r intervalReport) {
				res.Intervals = append(res.Intervals, r) // only this goroutine appends; read after ticks.stop
			})
		})
	}

	var workers sync.WaitGroup
	for w := 0; w < c.concurrency; w++ {
		workers.Add(1)
		go func(w int) {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			ms := make([]measurement, c.batch)
			var buf, idBuf []byte
			var lats []time.Duration
			defer func() { httpLat.add(lats...) }()
			for seq := 0; ; seq++ {
				if c.rate > 0 {
					due := start.Add(time.Duration(slot.Add(1)-1) * interval)
					if !due.Before(deadline) {
						return
					}
					if d := time.Until(due); d > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(d):
						}
					} else if -d > 100*time.Millisecond {
						late.Add(1)
					}
				}
				if ctx.Err() != nil || !time.Now().Before(deadline) {
					return
				}
				si := int(rr.Add(1)-1) % c.stations
				now := time.Now()
				for k := range ms {
					idBuf = append(idBuf[:0], c.prefix...)
					idBuf = append(idBuf, '-')
					idBuf = strconv.AppendInt(idBuf, int64(w), 10)
					idBuf = append(idBuf, '-')
					idBuf = strconv.AppendInt(idBuf, int64(seq), 10)
					idBuf = append(idBuf, '-')
					idBuf = strconv.AppendInt(idBuf, int64(k), 10)
					ms[k] = measurement{id: string(idBuf), typ: measurementTypes[k%len(measurementTypes)],
						value: float64(rng.IntN(100000)) / 1000, at: now.Add(-time.Duration(c.batch-k) * time.Millisecond)}
				}
				var pr *probe
				select {
				case <-probeReq:
					at := now.Truncate(time.Microsecond)
					ms[0] = measurement{id: ms[0].id + "-probe", typ: "probe", value: 1, at: at}
					pr = &probe{station: ids[si], at: at}
				default:
				}
				buf = appendBatch(buf[:0], ms)
				t0 := time.Now()
				out, st, err := postBatch(reqCtx, client, c.url, ids[si], tokens[si], buf)
				t1 := time.Now()
				requests.Add(1)
				switch {
				case err != nil || st != http.StatusCreated:
					errs.failed(st, err)
				default:
					lats = append(lats, t1.Sub(t0))
					if c.reportEvery > 0 {
						win.addHTTP(t1.Sub(t0))
					}
					tally.add(out)
					if pr != nil {
						pr.sent, pr.created = t0, t1
						select {
						case probes <- *pr:
						default:
						}
					}
				}
			}
		}(w)
	}
	workers.Wait()
	elapsed := time.Since(start)
	ticks.stop()
	cmdAfter, _ := promtext.Scrape(client, c.url+"/metrics")
	var projAfter []promtext.Sample
	if c.projectorURL != "" {
		projAfter, _ = promtext.Scrape(client, c.projectorURL+"/metrics")
	}
	res.CPU = watch.Finish()

	// Catch-up: how long after the load stops until a fresh probe is visible.
	fmt.Fprintln(os.Stderr, "load stopped; waiting for the read models to catch up...")
	catchStart := time.Now()
	at := catchStart.Truncate(time.Microsecond)
	body := appendBatch(nil, []measurement{{id: c.prefix + "-final-probe", typ: "probe", value: 1, at: at}})
	if _, st, err := postBatch(context.WithoutCancel(ctx), client, c.url, ids[0], tokens[0], body); err == nil && st == http.StatusCreated {
		if seen, ok := pollProbe(probe{station: ids[0], at: at, created: catchStart}); ok {
			res.CatchUpAfterStopSec = seen.Sub(catchStart).Seconds()
		} else {
			res.CatchUpAfterStopSec = -1
		}
	}
	close(probes)
	<-consumerDone
	pollers.Wait()

	res.Seconds = elapsed.Seconds()
	res.Requests, res.Accepted, res.Duplicates, res.LateSlots = requests.Load(), tally.accepted.Load(), tally.duplicates.Load(), late.Load()
	res.MeasurementsPerSec = float64(res.Accepted) / elapsed.Seconds()
	res.HTTP = httpLat.summary()
	if cmdBefore != nil && cmdAfter != nil {
		sl := serverLatencyOf(cmdBefore, cmdAfter, http.MethodPost, "/v1/stations/{id}/measurements")
		res.ServerHTTP = &sl
	}
	if projBefore != nil && projAfter != nil {
		b, _ := promtext.Value(projBefore, "fleetpulse_projected_events_total")
		a, _ := promtext.Value(projAfter, "fleetpulse_projected_events_total")
		res.ProjectedPerSec = (a - b) / elapsed.Seconds()
	}
	res.LagAppended, res.LagSent, res.GaugeLag = lagAppended.summary(), lagSent.summary(), gaugeLag.summary()
	res.ProbeTimeouts = probeTimeouts.Load()
	return res, nil
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
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		t.row("errors", 0)
	}
	for _, k := range keys {
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
