package projections_test

import (
	"context"
	"crypto/md5"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

type tableSnapshot struct {
	daily                              []dailyRow
	measurements, latest, devs, hourly string
	buckets                            string
}

// snapshot captures every read model in a comparable form.
func (e env) snapshot(t *testing.T) tableSnapshot {
	t.Helper()
	digest := func(sql string) string {
		var s string
		if err := e.pool.QueryRow(context.Background(), sql).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	return tableSnapshot{
		daily:        e.daily(t),
		measurements: e.rawDigest(t),
		latest:       digest(`SELECT coalesce(md5(string_agg(device_id || name || value || measured_at, ',' ORDER BY device_id, name)), '') FROM rm_latest`),
		hourly:       digest(`SELECT coalesce(md5(string_agg(device_id || name || hour || count || min || max, ',' ORDER BY device_id, name, hour)), '') FROM rm_hourly`),
		buckets:      digest(`SELECT coalesce(md5(string_agg(projection || device_id || name || start || count || min || max, ',' ORDER BY projection, device_id, name, start)), '') FROM rm_buckets`),
		devs:         digest(`SELECT coalesce(md5(string_agg(device_id || kind || name || timezone || version, ',' ORDER BY device_id)), '') FROM rm_devices`),
	}
}

// rawDigest is a digest of every raw measurement, whatever chunks hold
// them: two projections of one log cut chunks differently.
func (e env) rawDigest(t *testing.T) string {
	t.Helper()
	var lines []string
	err := e.rms.EachRawMeasurement(context.Background(), func(m readmodel.RawMeasurement) error {
		lines = append(lines, fmt.Sprintf("%s|%s|%s|%s|%v", m.DeviceID, m.ID, m.Type, m.MeasuredAt.UTC().Format(time.RFC3339Nano), m.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	sum := md5.Sum([]byte(strings.Join(lines, ",")))
	return fmt.Sprintf("%d:%x", len(lines), sum)
}

func sameSnapshot(t *testing.T, got, want tableSnapshot) {
	t.Helper()
	sameDaily(t, got.daily, want.daily)
	if got.measurements != want.measurements || got.latest != want.latest || got.devs != want.devs || got.hourly != want.hourly || got.buckets != want.buckets {
		t.Fatalf("read models differ:\n got %+v\nwant %+v", got, want)
	}
}

func TestRebuild_WhileIngestRunsEndsIdenticalToAFreshProjection(t *testing.T) {
	e := newEnv(t)
	for i, zone := range []string{"Europe/Warsaw", "America/New_York", "Asia/Kolkata"} {
		e.registerStation(t, fmt.Sprintf("st-%d", i), zone)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 40; i++ {
		e.record(t, fmt.Sprintf("st-%d", i%3), randomMeasurements(rng, 50)...)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := e.projector(100, nil)
	liveDone := make(chan error, 1)
	go func() { liveDone <- live.Run(ctx) }()

	// Ingest keeps going during the rebuild.
	var wg sync.WaitGroup
	stopIngest := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(4, 4))
		for i := 0; ; i++ {
			select {
			case <-stopIngest:
				return
			default:
			}
			e.record(t, fmt.Sprintf("st-%d", i%3), randomMeasurements(r, 20)...)
			time.Sleep(time.Millisecond)
		}
	}()
	// A dashboard reading meanwhile never sees the model shrink: no half-built tables.
	readerErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := 0
		for {
			select {
			case <-stopIngest:
				readerErr <- nil
				return
			default:
			}
			var n int
			if err := e.pool.QueryRow(context.Background(), `SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks`).Scan(&n); err != nil {
				readerErr <- err
				return
			}
			if n < last {
				readerErr <- fmt.Errorf("raw rows went from %d to %d during the rebuild", last, n)
				return
			}
			last = n
		}
	}()

	shadow, err := readmodel.CreateShadow(context.Background(), e.pool, keepAll)
	if err != nil {
		t.Fatal(err)
	}
	defer shadow.Close()
	report, err := projections.Rebuild(context.Background(), e.store, noWait{}, shadow, e.head(t), quiet, projections.Config{BatchSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if report.Events < 2000 {
		t.Fatalf("rebuild projected %d events, want the whole log", report.Events)
	}
	close(stopIngest)
	wg.Wait()
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}
	// Let the live projector finish the tail on the promoted tables.
	if _, err := e.projector(500, nil).CatchUp(context.Background(), e.head(t)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-liveDone; err != nil {
		t.Fatal(err)
	}
	rebuilt := e.snapshot(t)
	sameDaily(t, rebuilt.daily, e.expectedDaily(t))

	e.truncateReadModels(t)
	e.catchUp(t)
	sameSnapshot(t, rebuilt, e.snapshot(t))

	// The promoted tables carry the live index names, so migrations still find them.
	var idx int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_indexes WHERE indexname IN ('rm_measurement_chunks_series_idx', 'rm_daily_pkey', 'rm_vehicle_event_chunks_device_idx', 'rm_hourly_pkey')`).Scan(&idx); err != nil || idx != 4 {
		t.Fatalf("index names after the swap: %d found, %v", idx, err)
	}
}
