package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetpulse/fleetpulse/cmd/loadgen/internal/procstat"
)

// liveResult is what the live mode reports.
type liveResult struct {
	Mode        string          `json:"mode"`
	Subscribers int             `json:"subscribers"`
	Connected   int64           `json:"connected"`
	Seconds     float64         `json:"seconds"`
	Events      int64           `json:"events"`
	Points      int64           `json:"points"`
	Delivery    summary         `json:"commit_to_delivery"`
	Ended       int64           `json:"streams_ended_early"`
	RSSBeforeMB float64         `json:"rss_before_mib"`
	RSSAfterMB  float64         `json:"rss_subscribed_mib"`
	PerSubKiB   float64         `json:"kib_per_subscriber"`
	CPU         procstat.Report `json:"cpu"`
}

// runLive opens -subscribers live push streams (GET
// /v1/stations/{id}/live) spread over the -stations stations of an ingest
// run's -prefix, and times each change from its commit (the event's
// committed_at) to its arrival here, while something else (loadgen
// ingest) writes. -pids' first process is the read API: its RSS before
// and after the streams opened gives the memory one subscriber costs.
func runLive(ctx context.Context, args []string) error {
	var (
		c                              common
		readURL, prefix, pids, readKey string
		subscribers, stations          int
	)
	fs := flag.NewFlagSet("live", flag.ExitOnError)
	c.register(fs, time.Minute)
	fs.StringVar(&readURL, "read-url", defaultReadURL, "read API base URL (loopback only)")
	fs.StringVar(&readKey, "read-key", cmp.Or(os.Getenv("FLEETPULSE_READ_KEY"), os.Getenv("FLEETPULSE_ADMIN_TOKEN")),
		"read API key (default $FLEETPULSE_READ_KEY; else $FLEETPULSE_ADMIN_TOKEN, which the read API accepts)")
	fs.StringVar(&prefix, "prefix", "", "station id prefix of the ingest run to follow (its stations are <prefix>-s0000, ...)")
	fs.IntVar(&stations, "stations", 100, "stations of that run")
	fs.IntVar(&subscribers, "subscribers", 2000, "live streams to open, spread over the stations")
	fs.StringVar(&pids, "pids", "", "read API process id (first), then any others to report")
	_ = fs.Parse(args)
	var err error
	if readURL, err = checkLoopbackURL("read-url", readURL); err != nil {
		return err
	}
	if prefix == "" || stations < 1 || subscribers < 1 {
		return errors.New("-prefix, -stations and -subscribers are required")
	}
	procs, err := parsePIDs(pids)
	if err != nil {
		return err
	}
	ctx, done, err := c.start(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	defer done()
	res := &liveResult{Mode: "live", Subscribers: subscribers}
	ticks := newTickers()
	watch := watchProcesses(ticks, procs)
	rss := func() float64 {
		if len(procs) == 0 {
			return 0
		}
		watch.Sample()
		for name, v := range watch.RSS() {
			if strings.Contains(name, "read") {
				return v
			}
		}
		return 0
	}
	res.RSSBeforeMB = rss()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxConnsPerHost: 0, MaxIdleConnsPerHost: subscribers,
		DisableCompression: true}}
	var (
		delivery              samples
		events, points, ended atomic.Int64
		connected             atomic.Int64
		measuring             atomic.Bool
		wg                    sync.WaitGroup
	)
	streamCtx, stopStreams := context.WithCancel(ctx)
	for i := range subscribers {
		station := fmt.Sprintf("%s-s%04d", prefix, i%stations)
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(streamCtx, http.MethodGet, readURL+"/v1/stations/"+station+"/live", nil)
			req.Header.Set("Authorization", "Bearer "+readKey)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return
			}
			connected.Add(1)
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				line := sc.Bytes()
				data, ok := strings.CutPrefix(string(line), "data: ")
				if !ok || !measuring.Load() {
					continue
				}
				var ev struct {
					CommittedAt time.Time  `json:"committed_at"`
					Points      []struct{} `json:"points"`
				}
				if json.Unmarshal([]byte(data), &ev) != nil || ev.CommittedAt.IsZero() {
					continue
				}
				delivery.add(time.Since(ev.CommittedAt))
				events.Add(1)
				points.Add(int64(len(ev.Points)))
			}
			if streamCtx.Err() == nil {
				ended.Add(1)
			}
		})
	}
	// Wait for the streams to open (at most 60 s), then measure.
	for deadline := time.Now().Add(60 * time.Second); connected.Load() < int64(subscribers) && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	res.Connected = connected.Load()
	res.RSSAfterMB = rss()
	if res.Connected > 0 {
		res.PerSubKiB = (res.RSSAfterMB - res.RSSBeforeMB) * 1024 / float64(res.Connected)
	}
	start := time.Now()
	measuring.Store(true)
	select {
	case <-ctx.Done():
	case <-time.After(c.duration):
	}
	measuring.Store(false)
	res.Seconds = time.Since(start).Seconds()
	stopStreams()
	wg.Wait()
	ticks.stop()
	res.CPU = watch.Finish()
	res.Events, res.Points, res.Ended = events.Load(), points.Load(), ended.Load()
	res.Delivery = delivery.summary()
	t := newTable(fmt.Sprintf("live: %d subscribers (%d connected), %.0f s", subscribers, res.Connected, res.Seconds))
	t.row("events", "points", "p50", "p99", "max", "ended early", "read-api RSS before", "subscribed", "KiB/subscriber")
	t.row(res.Events, res.Points, res.Delivery.P50, res.Delivery.P99, res.Delivery.Max, res.Ended, res.RSSBeforeMB, res.RSSAfterMB, res.PerSubKiB)
	t.flush()
	fmt.Println("(commit -> delivery in ms: arrival here minus the change's committed_at, same clock)")
	printProcs(res.CPU)
	return c.writeJSON(res)
}
