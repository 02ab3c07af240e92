package archivetest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/projections"
)

// BenchmarkArchive measures, on real PostgreSQL, for the storage
// measurement's realistic station and vehicle data: the archive's bytes
// per item, archiving throughput, and a rebuild of the read models reading
// the log from PostgreSQL against one reading it from the archive.
// FLEETPULSE_BENCH_ARCHIVE_WORKERS sets the archiver's workers (default:
// one per core), FLEETPULSE_BENCH_ARCHIVE_FILE_ITEMS the rows per file,
// FLEETPULSE_BENCH_VEHICLE_HISTORY the vehicles' history (30m).
//
//	go test ./infra/archive/archivetest/ -run '^$' -bench 'Archive$' -benchtime 1x
func BenchmarkArchive(b *testing.B) {
	end := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	for _, tc := range []struct {
		name    string
		batches func() []domain.TelemetryBatch
	}{
		{"station", func() []domain.TelemetryBatch { return StationHistory(20, 3, end) }},
		{"vehicle", func() []domain.TelemetryBatch { return VehicleHistory(10, benchVehicleHistory(b), end) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				ctx := context.Background()
				e := NewEnv(b)
				batches := tc.batches()
				items := 0
				// Four writers, as devices would.
				var wg sync.WaitGroup
				for w := range 4 {
					wg.Go(func() {
						for i := w; i < len(batches); i += 4 {
							if _, err := e.Store.AppendTelemetry(ctx, domain.TelemetryStream(batches[i].Device()), uuid.NewString(), batches[i]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				for _, bt := range batches {
					items += len(bt.ItemIDs())
				}
				wg.Wait()
				e.Log(b, 5000) // wait until all of it is readable
				e.Project(b)

				cpu0 := processCPU(b)
				fromPG := e.Rebuild(b)
				cpu1 := processCPU(b)
				head, err := e.Store.Head(ctx)
				if err != nil {
					b.Fatal(err)
				}
				rep, err := archive.NewArchiver(e.Store, e.Bucket(b), At(head), archive.Config{Workers: benchWorkers(b), MaxItems: benchFileItems(b)}).Run(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Items != int64(items) {
					b.Fatalf("archived %d items, want %d", rep.Items, items)
				}
				cpu2 := processCPU(b)
				fromArchive := e.Rebuild(b)
				cpu3 := processCPU(b)
				// This process's CPU time per phase: what the figures would
				// be on an idle machine, as far as the Go side goes
				// (PostgreSQL's own work is not in it).
				b.ReportMetric(float64(items)/(cpu1-cpu0).Seconds(), "rebuild-pg-items/cpu-s")
				b.ReportMetric(float64(items)/(cpu2-cpu1).Seconds(), "archive-items/cpu-s")
				b.ReportMetric(float64(items)/(cpu3-cpu2).Seconds(), "rebuild-archive-items/cpu-s")
				b.ReportMetric(float64(items), "items")
				b.ReportMetric(float64(len(batches)), "events")
				b.ReportMetric(float64(rep.Bytes)/float64(items), "archive-B/item")
				b.ReportMetric(float64(rep.Events)/rep.Duration.Seconds(), "archive-events/s")
				b.ReportMetric(float64(rep.Items)/rep.Duration.Seconds(), "archive-items/s")
				b.ReportMetric(float64(items)/fromPG.Duration.Seconds(), "rebuild-pg-items/s")
				b.ReportMetric(float64(items)/fromArchive.Duration.Seconds(), "rebuild-archive-items/s")
				b.ReportMetric(fromPG.EventsPerSecond(), "rebuild-pg-events/s")
				b.ReportMetric(fromArchive.EventsPerSecond(), "rebuild-archive-events/s")
			}
		})
	}
}

// benchVehicleHistory is how long a history of 10 vehicles the vehicle
// case archives: FLEETPULSE_BENCH_VEHICLE_HISTORY (a Go duration; 3h is
// 108,000 samples), or 30 minutes (18,000).
func benchVehicleHistory(b *testing.B) time.Duration {
	v := os.Getenv("FLEETPULSE_BENCH_VEHICLE_HISTORY")
	if v == "" {
		return 30 * time.Minute
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("FLEETPULSE_BENCH_VEHICLE_HISTORY: %v", err)
	}
	return d
}

// benchWorkers is archive.Config.Workers for BenchmarkArchive:
// FLEETPULSE_BENCH_ARCHIVE_WORKERS, or 0 (one per core).
func benchWorkers(b *testing.B) int {
	v := os.Getenv("FLEETPULSE_BENCH_ARCHIVE_WORKERS")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("FLEETPULSE_BENCH_ARCHIVE_WORKERS: %v", err)
	}
	return n
}

// benchFileItems is archive.Config.MaxItems for BenchmarkArchive:
// FLEETPULSE_BENCH_ARCHIVE_FILE_ITEMS (the projector's schedule writes
// smaller files than `fleetpulse archive`), or 0 (the default).
func benchFileItems(b *testing.B) int {
	v := os.Getenv("FLEETPULSE_BENCH_ARCHIVE_FILE_ITEMS")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("FLEETPULSE_BENCH_ARCHIVE_FILE_ITEMS: %v", err)
	}
	return n
}

// processCPU is the CPU time this process has used so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkArchiveUnderIngest measures ingest and the live projector
// while archive runs go on. Four writers append batches of 60
// measurements through a group-commit store (as the API does), paced to
// underIngestRate measurements a second in all, with the live projector
// running; first alone, then during an archive run with the projector's
// scheduled setting (one worker, paced, smaller files) over 172,800 older
// measurements, then during one with one worker unpaced over as many
// more, then during one with a worker per core. Per phase: the
// rate appended, the rate projected, and the projection lag of each batch
// (from its append's return to the projector's commit of it: the k-th
// batch appended against the k-th applied), p50 / p99 / max.
//
//	go test ./infra/archive/archivetest/ -run '^$' -bench ArchiveUnderIngest -benchtime 1x
func BenchmarkArchiveUnderIngest(b *testing.B) {
	for b.Loop() {
		ctx := context.Background()
		e := NewEnv(b)
		ingest := eventstore.New(e.Pool, eventstore.Config{})
		b.Cleanup(ingest.Close)
		end := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
		history := StationHistory(120, 3, end)
		// Three sets of older telemetry, one for each archive run.
		var heads [3]domain.Position
		for set := range 3 {
			var batches []domain.TelemetryBatch
			for _, bt := range history {
				if d := bt.Device(); d >= fmt.Sprintf("store-%03d", 40*set) && d < fmt.Sprintf("store-%03d", 40*set+40) {
					batches = append(batches, bt)
				}
			}
			appendAll(b, ingest, batches)
			e.Log(b, 5000)
			h, err := e.Store.Head(ctx)
			if err != nil {
				b.Fatal(err)
			}
			heads[set] = h
		}
		e.Project(b)

		var (
			mu              sync.Mutex
			appended, apply []time.Time // completion time of each live batch
		)
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		p := projections.NewProjector(e.Store, e.Store, e.RMs, Quiet, projections.Config{BatchSize: 2000,
			OnBatch: func(n int, _ domain.RecordedEvent) {
				now := time.Now()
				mu.Lock()
				for range n {
					apply = append(apply, now)
				}
				mu.Unlock()
			}})
		wg.Go(func() { _ = p.Run(runCtx) })
		const writers = 4
		interval := time.Duration(float64(time.Second) * writers * 60 / underIngestRate)
		for w := range writers {
			wg.Go(func() {
				id := fmt.Sprintf("live-%02d", w)
				next := time.Now().Add(time.Duration(w) * interval / writers)
				for n := 0; runCtx.Err() == nil; n++ {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					} else if d < -interval {
						next = time.Now() // behind: no burst to catch up
					}
					next = next.Add(interval)
					ms := make([]domain.Measurement, 60)
					for j := range ms {
						ms[j] = domain.Measurement{ID: fmt.Sprintf("%s-%d-%d", id, n, j), Type: "pm25", Value: float64(j), MeasuredAt: end.Add(time.Duration(n*60+j) * time.Second)}
					}
					if _, err := ingest.AppendTelemetry(runCtx, domain.TelemetryStream(id), uuid.NewString(), domain.RecordMeasurements(id, ms)); err == nil {
						now := time.Now()
						mu.Lock()
						appended = append(appended, now)
						mu.Unlock()
					}
				}
			})
		}
		type phase struct {
			name       string
			start, end time.Time
			archive    archive.Report
		}
		var phases []phase
		run := func(name string, work func() archive.Report) {
			ph := phase{name: name, start: time.Now()}
			ph.archive = work()
			ph.end = time.Now()
			phases = append(phases, ph)
		}
		time.Sleep(time.Second) // the writers and the projector settle
		run("alone", func() archive.Report { time.Sleep(4 * time.Second); return archive.Report{} })
		for i, cfg := range []archive.Config{
			// The projector's schedule with its defaults
			// (service.ScheduledArchive: FLEETPULSE_ARCHIVE_RATE,
			// FLEETPULSE_ARCHIVE_FILE_ITEMS).
			{Workers: 1, Rate: 60_000, MaxItems: 50_000},
			{Workers: 1},
			{Workers: 0},
		} {
			name := []string{"archiving-scheduled", "archiving-1-worker", "archiving-all-cores"}[i]
			run(name, func() archive.Report {
				rep, err := archive.NewArchiver(e.Store, e.Bucket(b), At(heads[i]), cfg).Run(ctx)
				if err != nil {
					b.Error(err)
				}
				return rep
			})
		}
		time.Sleep(2 * time.Second) // the projector catches up with the last phase's batches
		stop()
		wg.Wait()

		mu.Lock()
		defer mu.Unlock()
		for _, ph := range phases {
			var lags []time.Duration
			var done int
			for k, t := range appended {
				if t.Before(ph.start) || !t.Before(ph.end) {
					continue
				}
				if k < len(apply) {
					lags = append(lags, apply[k].Sub(t))
				}
			}
			for _, t := range apply {
				if !t.Before(ph.start) && t.Before(ph.end) {
					done++
				}
			}
			d := ph.end.Sub(ph.start).Seconds()
			slices.Sort(lags)
			q := func(f float64) float64 {
				if len(lags) == 0 {
					return 0
				}
				return float64(lags[int(f*float64(len(lags)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(float64(len(lags))*60/d, "ingest-items/s-"+ph.name)
			b.ReportMetric(float64(done)*60/d, "projected-items/s-"+ph.name)
			b.ReportMetric(q(0.5), "lag-p50-ms-"+ph.name)
			b.ReportMetric(q(0.99), "lag-p99-ms-"+ph.name)
			b.ReportMetric(q(1), "lag-max-ms-"+ph.name)
			b.ReportMetric(d, "s-"+ph.name)
			if ph.archive.Items > 0 {
				b.ReportMetric(float64(ph.archive.Items)/ph.archive.Duration.Seconds(), "archive-items/s-"+ph.name)
			}
		}
	}
}

// underIngestRate is the ingest rate BenchmarkArchiveUnderIngest offers:
// the 20,000 measurements a second of the ingest target.
const underIngestRate = 20_000

// appendAll appends batches through st from four writers, as devices
// would.
func appendAll(b *testing.B, st *eventstore.Store, batches []domain.TelemetryBatch) {
	b.Helper()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(batches); i += 4 {
				if _, err := st.AppendTelemetry(context.Background(), domain.TelemetryStream(batches[i].Device()), uuid.NewString(), batches[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
