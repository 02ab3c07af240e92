package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type seedConfig struct {
	common
	api                       apiFlags
	station, zone, typ        string
	count, batch, concurrency int
	step                      time.Duration
}

type seedResult struct {
	Mode             string           `json:"mode"`
	Station          string           `json:"station"`
	Measurements     int              `json:"measurements"`
	Accepted         int64            `json:"accepted"`
	Duplicates       int64            `json:"duplicates"`
	PostSeconds      float64          `json:"post_seconds"`
	PostPerSec       float64          `json:"post_per_sec"`
	ProjectedSeconds float64          `json:"projected_seconds"`
	EndToEndPerSec   float64          `json:"end_to_end_per_sec"`
	DailyRows        int              `json:"daily_rows"`
	Errors           map[string]int64 `json:"errors"`
}

func runSeed(ctx context.Context, args []string) error {
	var c seedConfig
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	c.register(fs, 10*time.Minute)
	c.api.register(fs, "read API base URL, to wait until the year is projected (loopback only)")
	fs.StringVar(&c.station, "station", "bench-year", "station to fill (registered, or its token rotated)")
	fs.StringVar(&c.zone, "timezone", "Europe/Warsaw", "the station's time zone")
	fs.StringVar(&c.typ, "type", "pm25", "measurement type")
	fs.IntVar(&c.count, "count", 525600, "measurements, one per -step, ending now")
	fs.DurationVar(&c.step, "step", time.Minute, "time between measurements")
	fs.IntVar(&c.batch, "batch", 5000, "measurements per request")
	fs.IntVar(&c.concurrency, "concurrency", 4, "posting goroutines")
	_ = fs.Parse(args)
	if err := c.api.check(); err != nil {
		return err
	}
	if c.count < 1 || c.batch < 1 || c.concurrency < 1 || c.step <= 0 {
		return errors.New("-count, -batch, -concurrency and -step must be positive")
	}
	ctx, done, err := c.start(ctx, 0)
	if err != nil {
		return err
	}
	defer done()

	client := httpClient(c.concurrency+2, 2*time.Minute, c.api.readAuth())
	token, err := registerStation(ctx, client, c.api.url, c.api.admin, c.station, c.zone)
	if err != nil {
		return err
	}
	st := station{id: c.station, token: token}
	end := time.Now().Add(-time.Minute).Truncate(c.step)
	first := end.Add(-time.Duration(c.count-1) * c.step)
	res := &seedResult{Mode: "seed", Station: c.station, Measurements: c.count, Errors: map[string]int64{}}
	var tally acceptedTally
	var next atomic.Int64
	errs := newErrorTally(res.Errors)
	var wg sync.WaitGroup
	start := time.Now()
	for range c.concurrency {
		wg.Go(func() {
			ms := make([]measurement, 0, c.batch)
			var buf []byte
			for ctx.Err() == nil {
				lo := int(next.Add(int64(c.batch))) - c.batch
				if lo >= c.count {
					return
				}
				hi := min(lo+c.batch, c.count)
				ms = ms[:0]
				for i := lo; i < hi; i++ {
					at := first.Add(time.Duration(i) * c.step)
					hour := float64(at.Unix()%86400) / 3600
					v := math.Round((18+8*math.Sin((hour-6)/24*2*math.Pi)+float64(i%7))*100) / 100
					ms = append(ms, measurement{id: "y-" + strconv.FormatInt(at.Unix(), 10), typ: c.typ, value: v, at: at})
				}
				buf = appendBatch(buf[:0], ms)
				out, status, err := postBatch(ctx, client, c.api.url, st, buf)
				if err != nil || status != http.StatusCreated {
					errs.failed(status, err)
					continue
				}
				tally.add(out)
			}
		})
	}
	wg.Wait()
	res.PostSeconds = time.Since(start).Seconds()
	res.Accepted, res.Duplicates = tally.accepted.Load(), tally.duplicates.Load()
	res.PostPerSec = float64(res.Accepted) / res.PostSeconds
	fmt.Fprintf(os.Stderr, "posted %d measurements in %.1f s; waiting until the daily view counts them all...\n", res.Accepted+res.Duplicates, res.PostSeconds)

	// Projected when the daily rows over the whole range count every measurement.
	zone, err := time.LoadLocation(c.zone)
	if err != nil {
		zone = time.UTC
	}
	q := url.Values{"type": {c.typ}, "from": {first.In(zone).Format(time.DateOnly)}, "to": {end.In(zone).Format(time.DateOnly)}}
	u := c.api.readURL + "/v1/stations/" + c.station + "/measurements/daily?" + q.Encode()
	err = waitFor(ctx, time.Until(start.Add(c.duration)), func() bool {
		var out struct {
			Days []struct {
				Count int64 `json:"count"`
			} `json:"days"`
		}
		if st, err := get(ctx, client, u, &out); err != nil || st != http.StatusOK {
			return false
		}
		var n int64
		for _, d := range out.Days {
			n += d.Count
		}
		res.DailyRows = len(out.Days)
		return n >= int64(c.count)
	})
	res.ProjectedSeconds = time.Since(start).Seconds()
	if err != nil {
		fmt.Fprintf(os.Stderr, "the daily view did not count all %d measurements in time: %v\n", c.count, err)
	} else {
		res.EndToEndPerSec = float64(c.count) / res.ProjectedSeconds
	}
	t := newTable(fmt.Sprintf("seed: %s, %d x %s of %s", c.station, c.count, c.step, c.typ))
	t.row("metric", "value")
	t.row("accepted / duplicates", fmt.Sprintf("%d / %d", res.Accepted, res.Duplicates))
	t.row("posting took (s)", res.PostSeconds)
	t.row("posted measurements/s", res.PostPerSec)
	t.row("until all projected (s)", res.ProjectedSeconds)
	t.row("end to end measurements/s", res.EndToEndPerSec)
	t.row("daily rows", res.DailyRows)
	t.row("errors", fmt.Sprint(res.Errors))
	t.flush()
	return c.writeJSON(res)
}
