package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/promtext"
)

var measurementTypes = []string{"pm25", "pm10", "no2", "temperature", "humidity"}

// ingest registers a fleet, loads it for -duration from -concurrency
// goroutines while probing projection lag, and reports.
func ingest(ctx context.Context, c ingestConfig, mode string) (*ingestResult, error) {
	client := httpClient(c.concurrency+32, 30*time.Second, c.api.readAuth())
	fmt.Fprintf(os.Stderr, "registering %d stations (%s-s*)...\n", c.stations, c.prefix)
	fleet, err := registerFleet(ctx, client, c.api.url, c.api.admin, c.prefix, c.stations)
	if err != nil {
		return nil, err
	}
	// The lag probes ask the read API about these stations: wait until it knows them.
	for _, s := range []station{fleet[0], fleet[len(fleet)-1]} {
		if err := waitFor(ctx, 60*time.Second, func() bool {
			st, err := get(ctx, client, c.api.readURL+"/v1/stations/"+s.id, nil)
			return err == nil && st == http.StatusOK
		}); err != nil {
			return nil, fmt.Errorf("read API never showed station %s: %w", s.id, err)
		}
	}

	res := &ingestResult{Mode: mode, Prefix: c.prefix, Stations: c.stations, Batch: c.batch,
		Concurrency: c.concurrency, TargetRate: c.rate, Errors: map[string]int64{}}
	l := &load{c: c, client: client, fleet: fleet, errs: newErrorTally(res.Errors)}
	cmdBefore, projBefore := l.scrapeMetrics()
	if c.reportEvery > 0 {
		l.win = &window{}
	}

	ticks := newTickers()
	watch := watchProcesses(ticks, c.pidList)
	start := time.Now()
	l.pace = newPacer(start, c.duration, c.rate, c.batch)
	pollCtx, stopPolling := context.WithTimeout(context.WithoutCancel(ctx), c.duration+c.drainTimeout)
	defer stopPolling()
	l.probes = newProber(pollCtx, client, c.api.readURL, l.win)
	if c.probes > 0 {
		ticks.every(time.Duration(float64(time.Second)/c.probes), l.probes.request)
	}
	if c.projectorURL != "" {
		ticks.every(time.Second, l.sampleLagGauge)
	}
	var intervals *intervalReporter
	if c.reportEvery > 0 {
		read := func() counters { return counters{l.tally.accepted.Load(), l.errs.total.Load(), l.pace.late.Load()} }
		intervals = newIntervalReporter(c.reportEvery, start, read, l.win, watch)
		ticks.every(c.reportEvery, intervals.tick)
	}

	var workers sync.WaitGroup
	for w := range c.concurrency {
		// Requests in flight at the deadline finish; only SIGINT cuts them short.
		workers.Go(func() { l.post(ctx, w) })
	}
	workers.Wait()
	elapsed := time.Since(start)
	ticks.stop()
	if intervals != nil {
		res.Intervals = intervals.finish()
	}
	cmdAfter, projAfter := l.scrapeMetrics()
	res.CPU = watch.Finish()
	res.CatchUpAfterStopSec = l.probes.catchUp(ctx, c.api.url, fleet[0], c.prefix)
	l.probes.wait()

	res.Seconds = elapsed.Seconds()
	res.Requests, res.Accepted, res.Duplicates = l.requests.Load(), l.tally.accepted.Load(), l.tally.duplicates.Load()
	res.LateSlots = l.pace.late.Load()
	res.MeasurementsPerSec = float64(res.Accepted) / elapsed.Seconds()
	res.HTTP = l.httpLat.summary()
	if cmdBefore != nil && cmdAfter != nil {
		sl := serverLatencyOf(cmdBefore, cmdAfter, http.MethodPost, "/v1/stations/{id}/measurements")
		res.ServerHTTP = &sl
	}
	if projBefore != nil && projAfter != nil {
		b, _ := promtext.Value(projBefore, "fleetpulse_projected_events_total")
		a, _ := promtext.Value(projAfter, "fleetpulse_projected_events_total")
		res.ProjectedPerSec = (a - b) / elapsed.Seconds()
	}
	res.LagAppended, res.LagSent, res.GaugeLag = l.probes.fromAccepted.summary(), l.probes.fromSent.summary(), l.gaugeLag.summary()
	res.ProbeTimeouts = l.probes.timeouts.Load()
	return res, nil
}

// load is an ingest or soak run in progress: what its posting goroutines share.
type load struct {
	c      ingestConfig
	client *http.Client
	fleet  []station
	pace   *pacer
	probes *prober
	win    *window // nil unless -report-every

	requests atomic.Int64
	next     atomic.Int64 // the station of the next batch, round robin
	tally    acceptedTally
	errs     *errorTally
	httpLat  samples // of accepted batches
	gaugeLag samples // the projector's own lag gauge, every second
}

// scrapeMetrics reads the command API's and the projector's /metrics. The
// figures taken from them are optional: a failed scrape leaves them out.
func (l *load) scrapeMetrics() (command, projector []promtext.Sample) {
	command, _ = promtext.Scrape(l.client, l.c.api.url+"/metrics")
	if l.c.projectorURL != "" {
		projector, _ = promtext.Scrape(l.client, l.c.projectorURL+"/metrics")
	}
	return command, projector
}

// sampleLagGauge records the projector's lag gauge of the read models: the
// age of the oldest event they have yet to apply, as the projector sees it.
func (l *load) sampleLagGauge() {
	ss, err := promtext.Scrape(l.client, l.c.projectorURL+"/metrics")
	if err != nil {
		return
	}
	if v, ok := promtext.ValueOf(ss, "fleetpulse_projection_lag_seconds", map[string]string{"projection": "read_models"}); ok {
		lag := time.Duration(v * float64(time.Second))
		l.gaugeLag.add(lag)
		if l.win != nil {
			l.win.gauge.add(lag)
		}
	}
}

// post is one posting goroutine: a batch per slot of the schedule until
// the deadline. Its latencies join the run's at the end (fewer locks).
func (l *load) post(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(l.pace.start.UnixNano())))
	ms := make([]measurement, l.c.batch)
	var buf, idBuf []byte
	var lats []time.Duration
	defer func() { l.httpLat.add(lats...) }()
	for seq := 0; l.pace.next(ctx); seq++ {
		s := l.fleet[int(l.next.Add(1)-1)%len(l.fleet)]
		now := time.Now()
		for k := range ms {
			idBuf = append(idBuf[:0], l.c.prefix...)
			idBuf = append(idBuf, '-')
			idBuf = strconv.AppendInt(idBuf, int64(w), 10)
			idBuf = append(idBuf, '-')
			idBuf = strconv.AppendInt(idBuf, int64(seq), 10)
			idBuf = append(idBuf, '-')
			idBuf = strconv.AppendInt(idBuf, int64(k), 10)
			ms[k] = measurement{id: string(idBuf), typ: measurementTypes[k%len(measurementTypes)],
				value: float64(rng.IntN(100000)) / 1000, at: now.Add(-time.Duration(l.c.batch-k) * time.Millisecond)}
		}
		pr := l.probes.take(ms, s.id, now)
		buf = appendBatch(buf[:0], ms)
		t0 := time.Now()
		out, st, err := postBatch(ctx, l.client, l.c.api.url, s, buf)
		t1 := time.Now()
		l.requests.Add(1)
		if err != nil || st != http.StatusCreated {
			l.errs.failed(st, err)
			continue
		}
		lats = append(lats, t1.Sub(t0))
		if l.win != nil {
			l.win.http.add(t1.Sub(t0))
		}
		l.tally.add(out)
		if pr != nil {
			pr.sent, pr.created = t0, t1
			l.probes.follow(*pr)
		}
	}
}

// pacer is the shared schedule of a run at -rate: slot i is due at
// start + i x interval, whichever goroutine takes it. Without -rate every
// goroutine sends back to back.
type pacer struct {
	start, deadline time.Time
	paced           bool
	interval        time.Duration
	slot            atomic.Int64
	late            atomic.Int64 // slots started more than 100 ms after they were due
}

func newPacer(start time.Time, d time.Duration, rate float64, batch int) *pacer {
	p := &pacer{start: start, deadline: start.Add(d), paced: rate > 0}
	if p.paced {
		p.interval = time.Duration(float64(time.Second) * float64(batch) / rate)
	}
	return p
}

// next waits for the next slot; false once the run is over.
func (p *pacer) next(ctx context.Context) bool {
	if p.paced {
		due := p.start.Add(time.Duration(p.slot.Add(1)-1) * p.interval)
		if !due.Before(p.deadline) {
			return false
		}
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(d):
			}
		} else if -d > 100*time.Millisecond {
			p.late.Add(1)
		}
	}
	return ctx.Err() == nil && time.Now().Before(p.deadline)
}
