package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/natsfeed"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/infra/service"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// BenchmarkFeed measures the event feed on this machine: an HTTP consumer
// catching up from position 0 over a log of 50,000 telemetry events (one
// item each), the NATS feed publishing the same log, and the delay from an
// append's commit to a long-polling HTTP consumer receiving it and to a
// NATS subscriber, the feed's forwarder running (100 appends each, one at
// a time). Run with -benchtime=1x.
func BenchmarkFeed(b *testing.B) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, _ := pgtest.NewDatabase(b)
	store := eventstore.New(pool, eventstore.Config{PollInterval: 250 * time.Millisecond})
	b.Cleanup(store.Close)
	queries, err := readmodel.NewQueries(pool)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(readapi.NewHandler(queries, readapi.Config{RequestTimeout: 30 * time.Second,
		Auth: readapi.AuthConfig{Open: true}, Feed: store}, time.Now, httpx.NewRegistry(), logger))
	b.Cleanup(srv.Close)
	const n = 50_000
	for i := 0; i < n; i += 1000 {
		if _, err := pool.Exec(ctx, `
INSERT INTO events (event_id, stream_id, stream_version, event_type, data, recorded_at)
SELECT gen_random_uuid(), 'telemetry-st-' || (g % 20), 1000000 + $1 + g, 'MeasurementsRecorded',
  jsonb_build_object('station_id', 'st-' || (g % 20), 'measurements', jsonb_build_array(jsonb_build_object('id', 'm' || ($1 + g), 'type', 'pm25', 'value', g, 'measured_at', '2026-11-29T06:00:00Z'))),
  now()
FROM generate_series(0, 999) AS g`, i); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		// HTTP catch-up.
		began := time.Now()
		got, after := 0, ""
		for got < n {
			var page struct {
				Events []seenEvent `json:"events"`
				Next   string      `json:"next"`
			}
			url := srv.URL + "/v1/feed?limit=10000"
			if after != "" {
				url += "&after=" + after
			}
			if err := getJSON(ctx, http.DefaultClient, url, &page); err != nil {
				b.Fatal(err)
			}
			got += len(page.Events)
			after = page.Next
		}
		catchUp := time.Since(began)
		b.ReportMetric(float64(n)/catchUp.Seconds(), "http_events/s")

		// NATS publishing of the same log.
		cfg := config.Config{FeedNATSURL: feedTestNATS, FeedNATSPrefix: "fpbench_" + uuid.NewString()[:8]}
		checkpoints, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
		if err != nil {
			b.Fatal(err)
		}
		fwd, closeFeed, err := service.NewNATSFeed(ctx, cfg, store, store, checkpoints, logger)
		if err != nil {
			b.Fatal(err)
		}
		if err := fwd.Load(ctx); err != nil {
			b.Fatal(err)
		}
		began = time.Now()
		for published := 0; published < n; {
			k, err := fwd.Step(ctx)
			if err != nil {
				b.Fatal(err)
			}
			published += k
		}
		b.ReportMetric(float64(n)/time.Since(began).Seconds(), "nats_events/s")

		// Delay after commit, to a NATS subscriber, the forwarder running.
		nc, err := nats.Connect(feedTestNATS)
		if err != nil {
			b.Fatal(err)
		}
		js, err := nc.JetStream()
		if err != nil {
			b.Fatal(err)
		}
		sub, err := js.SubscribeSync(cfg.FeedNATSPrefix+".events.*.st-y", nats.DeliverNew(), nats.AckNone())
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan struct{})
		go func() { defer close(ran); _ = fwd.Run(runCtx) }()
		var natsDelays []time.Duration
		for i := range 100 {
			if _, err := store.AppendTelemetry(ctx, domain.TelemetryStream("st-y"), uuid.NewString(),
				domain.RecordMeasurements("st-y", []domain.Measurement{{ID: fmt.Sprint(i), Type: "pm25", Value: 1, MeasuredAt: time.Now()}})); err != nil {
				b.Fatal(err)
			}
			committed := time.Now()
			if _, err := sub.NextMsg(10 * time.Second); err != nil {
				b.Fatal(err)
			}
			natsDelays = append(natsDelays, time.Since(committed))
		}
		stop()
		<-ran
		slices.Sort(natsDelays)
		b.ReportMetric(float64(natsDelays[49].Microseconds())/1000, "nats_delay_p50_ms")
		b.ReportMetric(float64(natsDelays[98].Microseconds())/1000, "nats_delay_p99_ms")
		closeFeed()
		_ = js.DeleteStream(natsfeed.StreamName(cfg.FeedNATSPrefix))
		nc.Close()

		// Delay after commit, to a long-polling consumer, from the head.
		for {
			var page struct {
				Events []seenEvent `json:"events"`
				Next   string      `json:"next"`
			}
			if err := getJSON(ctx, http.DefaultClient, srv.URL+"/v1/feed?after="+after, &page); err != nil {
				b.Fatal(err)
			}
			after = page.Next
			if len(page.Events) == 0 {
				break
			}
		}
		var delays []time.Duration
		for i := range 100 {
			done := make(chan time.Time, 1)
			pos := after
			go func() {
				var page struct {
					Events []seenEvent `json:"events"`
					Next   string      `json:"next"`
				}
				_ = getJSON(ctx, http.DefaultClient, srv.URL+"/v1/feed?wait=10&after="+pos, &page)
				after = page.Next
				done <- time.Now()
			}()
			time.Sleep(20 * time.Millisecond) // the consumer is waiting
			if _, err := store.AppendTelemetry(ctx, domain.TelemetryStream("st-x"), uuid.NewString(),
				domain.RecordMeasurements("st-x", []domain.Measurement{{ID: fmt.Sprint(i), Type: "pm25", Value: 1, MeasuredAt: time.Now()}})); err != nil {
				b.Fatal(err)
			}
			committed := time.Now()
			delays = append(delays, (<-done).Sub(committed))
		}
		slices.Sort(delays)
		b.ReportMetric(float64(delays[49].Microseconds())/1000, "delay_p50_ms")
		b.ReportMetric(float64(delays[98].Microseconds())/1000, "delay_p99_ms")
	}
}
