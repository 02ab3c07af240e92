package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/promtext"
)

type readConfig struct {
	common
	readURL, station, typ string
	clients               int
	think                 time.Duration
	dailyShare            float64
	day, to               string
	pids                  string
}

type readKind struct {
	Name       string        `json:"name"`
	URL        string        `json:"url"`
	Rows       int           `json:"rows"`
	Requests   int64         `json:"requests"`
	PerSec     float64       `json:"per_sec"`
	Client     summary       `json:"client_latency"`
	Server     serverLatency `json:"server_latency"`
	samples    samples
	serverPath string
}

type readResult struct {
	Mode    string           `json:"mode"`
	Clients int              `json:"clients"`
	ThinkMS float64          `json:"think_ms"`
	Seconds float64          `json:"seconds"`
	Kinds   []*readKind      `json:"kinds"`
	Errors  map[string]int64 `json:"errors"`
	CPU     procstat.Report  `json:"cpu"`
}

func runRead(ctx context.Context, args []string) error {
	var c readConfig
	fs := flag.NewFlagSet("read", flag.ExitOnError)
	c.register(fs, time.Minute)
	fs.StringVar(&c.readURL, "read-url", "http://127.0.0.1:8081", "read API base URL (loopback only)")
	fs.StringVar(&c.station, "station", "bench-year", "station to read (seed it first)")
	fs.StringVar(&c.typ, "type", "pm25", "measurement type")
	fs.IntVar(&c.clients, "clients", 200, "concurrent dashboard clients")
	fs.DurationVar(&c.think, "think", 0, "pause of each client between requests (0: closed loop, back to back)")
	fs.Float64Var(&c.dailyShare, "daily-share", 0.5, "share of requests for the 365-day view; the rest read one day of raw points")
	fs.StringVar(&c.day, "day", "", "UTC day of raw points to read (default: yesterday)")
	fs.StringVar(&c.to, "to", "", "last day of the 365-day view (default: today, UTC)")
	fs.StringVar(&c.pids, "pids", "", "comma-separated process ids whose RSS and CPU to report")
	_ = fs.Parse(args)
	var err error
	if c.readURL, err = checkLoopbackURL("read-url", c.readURL); err != nil {
		return err
	}
	if c.clients < 1 {
		return errors.New("-clients must be positive")
	}
	pids, err := parsePIDs(c.pids)
	if err != nil {
		return err
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day, to := today.AddDate(0, 0, -1), today
	if c.day != "" {
		if day, err = time.Parse(time.DateOnly, c.day); err != nil {
			return fmt.Errorf("-day: %w", err)
		}
	}
	if c.to != "" {
		if to, err = time.Parse(time.DateOnly, c.to); err != nil {
			return fmt.Errorf("-to: %w", err)
		}
	}
	ctx, done, err := c.start(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	defer done()

	base := c.readURL + "/v1/stations/" + url.PathEscape(c.station)
	daily := &readKind{Name: "365 daily rows", serverPath: "/v1/stations/{id}/measurements/daily",
		URL: base + "/measurements/daily?" + url.Values{"type": {c.typ}, "from": {to.AddDate(0, 0, -364).Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}.Encode()}
	raw := &readKind{Name: "1 day of raw points", serverPath: "/v1/stations/{id}/measurements",
		URL: base + "/measurements?" + url.Values{"type": {c.typ}, "from": {day.Format(time.RFC3339)}, "to": {day.Add(24 * time.Hour).Format(time.RFC3339)}}.Encode()}

	client := httpClient(c.clients, 30*time.Second)
	var d struct {
		Days []struct{} `json:"days"`
	}
	if st, err := get(ctx, client, daily.URL, &d); err != nil || st != http.StatusOK {
		return fmt.Errorf("GET %s: status %d, %v", daily.URL, st, err)
	}
	var p struct {
		Points []struct{} `json:"points"`
	}
	if st, err := get(ctx, client, raw.URL, &p); err != nil || st != http.StatusOK {
		return fmt.Errorf("GET %s: status %d, %v", raw.URL, st, err)
	}
	daily.Rows, raw.Rows = len(d.Days), len(p.Points)

	before, err := promtext.Scrape(client, c.readURL+"/metrics")
	if err != nil {
		return err
	}
	res := &readResult{Mode: "read", Clients: c.clients, ThinkMS: float64(c.think) / 1e6, Errors: map[string]int64{}, Kinds: []*readKind{daily, raw}}
	errs := newErrorTally(res.Errors)
	ticks := newTickers()
	watch := watchProcesses(ticks, pids)
	start := time.Now()
	deadline := start.Add(c.duration)
	var wg sync.WaitGroup
	for i := 0; i < c.clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var lat [2][]time.Duration
			defer func() {
				daily.samples.add(lat[0]...)
				raw.samples.add(lat[1]...)
			}()
			// Spread the clients' first requests over the think time.
			if c.think > 0 {
				time.Sleep(time.Duration(rng.Int64N(int64(c.think))))
			}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				k := 1
				if rng.Float64() < c.dailyShare {
					k = 0
				}
				u := res.Kinds[k].URL
				t0 := time.Now()
				st, err := get(ctx, client, u, nil)
				el := time.Since(t0)
				if err != nil || st != http.StatusOK {
					errs.failed(st, err)
				} else {
					lat[k] = append(lat[k], el)
				}
				if c.think > 0 {
					time.Sleep(c.think)
				}
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	ticks.stop()
	res.CPU = watch.Finish()
	after, err := promtext.Scrape(client, c.readURL+"/metrics")
	if err != nil {
		return err
	}
	res.Seconds = elapsed.Seconds()
	for _, k := range res.Kinds {
		k.Client = k.samples.summary()
		k.Requests = int64(k.Client.N)
		k.PerSec = float64(k.Requests) / elapsed.Seconds()
		k.Server = serverLatencyOf(before, after, http.MethodGet, k.serverPath)
	}
	printRead(res)
	return c.writeJSON(res)
}

func printRead(r *readResult) {
	t := newTable(fmt.Sprintf("read: %d clients, think %.0f ms, %.0f s", r.Clients, r.ThinkMS, r.Seconds))
	t.row("view", "rows", "req/s", "client p50", "client p99", "client max", "server p50", "server p99", "server <=10ms")
	for _, k := range r.Kinds {
		t.row(k.Name, k.Rows, k.PerSec, k.Client.P50, k.Client.P99, k.Client.Max, k.Server.P50ms, k.Server.P99ms,
			fmt.Sprintf("%.1f%%", 100*k.Server.Under10ms))
	}
	t.flush()
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("errors: %d kinds", len(keys))
	for _, k := range keys {
		fmt.Printf("; %s: %d", k, r.Errors[k])
	}
	fmt.Println()
	fmt.Println("(latencies in ms; server figures come from fleetpulse_http_request_duration_seconds, interpolated within buckets)")
	printProcs(r.CPU)
}
