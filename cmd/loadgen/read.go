package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/promtext"
)

type readConfig struct {
	common
	days                  dayFlags
	readURL, station, typ string
	readKey               string
	clients               int
	think                 time.Duration
	dailyShare            float64
	pids                  string
}

// readKind is one of the two views a dashboard client reads.
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
	c.days.register(fs, "last day of the 365-day view (default: today, UTC)", "UTC day of raw points to read (default: yesterday)")
	fs.StringVar(&c.readURL, "read-url", defaultReadURL, "read API base URL (loopback only)")
	fs.StringVar(&c.readKey, "read-key", cmp.Or(os.Getenv("FLEETPULSE_READ_KEY"), os.Getenv("FLEETPULSE_ADMIN_TOKEN")),
		"read API key (default $FLEETPULSE_READ_KEY; else $FLEETPULSE_ADMIN_TOKEN, which the read API accepts)")
	fs.StringVar(&c.station, "station", "bench-year", "station to read (seed it first)")
	fs.StringVar(&c.typ, "type", "pm25", "measurement type")
	fs.IntVar(&c.clients, "clients", 200, "concurrent dashboard clients")
	fs.DurationVar(&c.think, "think", 0, "pause of each client between requests (0: closed loop, back to back)")
	fs.Float64Var(&c.dailyShare, "daily-share", 0.5, "share of requests for the 365-day view; the rest read one day of raw points")
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
	from, to, day, err := c.days.parse()
	if err != nil {
		return err
	}
	ctx, done, err := c.start(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	defer done()

	base := c.readURL + "/v1/stations/" + url.PathEscape(c.station)
	daily := &readKind{Name: "365 daily rows", serverPath: "/v1/stations/{id}/measurements/daily",
		URL: base + "/measurements/daily?" + url.Values{"type": {c.typ}, "from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}.Encode()}
	raw := &readKind{Name: "1 day of raw points", serverPath: "/v1/stations/{id}/measurements",
		URL: base + "/measurements?" + url.Values{"type": {c.typ}, "from": {day.Format(time.RFC3339)}, "to": {day.Add(24 * time.Hour).Format(time.RFC3339)}}.Encode()}
	kinds := []*readKind{daily, raw}

	client := httpClient(c.clients, 30*time.Second, c.readKey)
	for _, k := range kinds {
		var rows struct { // one of them, depending on the view
			Days   []struct{} `json:"days"`
			Points []struct{} `json:"points"`
		}
		if st, err := get(ctx, client, k.URL, &rows); err != nil || st != http.StatusOK {
			return fmt.Errorf("GET %s: status %d, %v", k.URL, st, err)
		}
		k.Rows = len(rows.Days) + len(rows.Points)
	}
	before, err := promtext.Scrape(client, c.readURL+"/metrics")
	if err != nil {
		return err
	}
	res := &readResult{Mode: "read", Clients: c.clients, ThinkMS: float64(c.think) / 1e6, Errors: map[string]int64{}, Kinds: kinds}
	errs := newErrorTally(res.Errors)
	ticks := newTickers()
	watch := watchProcesses(ticks, pids)
	start := time.Now()
	deadline := start.Add(c.duration)
	var wg sync.WaitGroup
	for i := range c.clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			lat := make([][]time.Duration, len(kinds))
			defer func() {
				for k, d := range lat {
					kinds[k].samples.add(d...)
				}
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
				t0 := time.Now()
				st, err := get(ctx, client, kinds[k].URL, nil)
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
		})
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
	for _, k := range kinds {
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
	fmt.Printf("errors: %d kinds", len(r.Errors))
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Printf("; %s: %d", k, r.Errors[k])
	}
	fmt.Println()
	fmt.Println("(latencies in ms; server figures come from fleetpulse_http_request_duration_seconds, interpolated within buckets)")
	printProcs(r.CPU)
}
