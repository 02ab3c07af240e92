package archivetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/projections"
)

// BenchmarkArchive measures, on real PostgreSQL, for the storage
// measurement's realistic station and vehicle data: the archive's bytes
// per item, archiving throughput, and a rebuild of the read models reading
// the log from PostgreSQL against one reading it from the archive.
//
//	go test ./infra/archive/archivetest/ -run '^$' -bench Archive -benchtime 1x
func BenchmarkArchive(b *testing.B) {
	end := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	for _, tc := range []struct {
		name    string
		batches func() []domain.TelemetryBatch
	}{
		{"station", func() []domain.TelemetryBatch { return StationHistory(20, 3, end) }},
		{"vehicle", func() []domain.TelemetryBatch { return VehicleHistory(10, 30*time.Minute, end) }},
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
				rep, err := archive.NewArchiver(e.Store, e.Bucket(b), At(head), archive.Config{}).Run(ctx)
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

// processCPU is the CPU time this process has used so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkArchiveUnderIngest measures ingest (four writers appending
// batches of 60 measurements) and the live projector, first alone for two
// seconds, then while an archive run moves 86,400 older measurements out
// of PostgreSQL: what archiving costs the hot path.
//
//	go test ./infra/archive/archivetest/ -run '^$' -bench ArchiveUnderIngest -benchtime 1x
func BenchmarkArchiveUnderIngest(b *testing.B) {
	for b.Loop() {
		ctx := context.Background()
		e := NewEnv(b)
		end := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
		for _, bt := range StationHistory(20, 3, end) {
			if _, err := e.Store.AppendTelemetry(ctx, domain.TelemetryStream(bt.Device()), uuid.NewString(), bt); err != nil {
				b.Fatal(err)
			}
		}
		e.Log(b, 5000)
		e.Project(b)
		seedHead, err := e.Store.Head(ctx)
		if err != nil {
			b.Fatal(err)
		}

		var appended atomic.Int64
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		// The live projector; what it applied is counted in rm_daily.
		p := projections.NewProjector(e.Store, e.Store, e.RMs, Quiet, projections.Config{BatchSize: 2000})
		wg.Go(func() { _ = p.Run(runCtx) })
		for w := range 4 {
			wg.Go(func() {
				for n := 0; runCtx.Err() == nil; n++ {
					id := fmt.Sprintf("live-%02d", w)
					ms := make([]domain.Measurement, 60)
					for j := range ms {
						ms[j] = domain.Measurement{ID: fmt.Sprintf("%s-%d-%d", id, n, j), Type: "pm25", Value: float64(j), MeasuredAt: end.Add(time.Duration(n*60+j) * time.Second)}
					}
					if _, err := e.Store.AppendTelemetry(runCtx, domain.TelemetryStream(id), uuid.NewString(), domain.RecordMeasurements(id, ms)); err == nil {
						appended.Add(60)
					}
				}
			})
		}
		rawItems := func() int64 {
			var n int64
			if err := e.Pool.QueryRow(ctx, `SELECT coalesce(sum(count), 0) FROM rm_daily WHERE device_id LIKE 'live-%'`).Scan(&n); err != nil {
				b.Fatal(err)
			}
			return n
		}
		phase := func(work func()) (appendRate, projectRate float64, d time.Duration) {
			a0, p0, t0 := appended.Load(), rawItems(), time.Now()
			work()
			d = time.Since(t0)
			return float64(appended.Load()-a0) / d.Seconds(), float64(rawItems()-p0) / d.Seconds(), d
		}
		aAlone, pAlone, _ := phase(func() { time.Sleep(2 * time.Second) })
		var rep archive.Report
		aArch, pArch, _ := phase(func() {
			rep, err = archive.NewArchiver(e.Store, e.Bucket(b), At(seedHead), archive.Config{}).Run(ctx)
			if err != nil {
				b.Error(err)
			}
		})
		stop()
		wg.Wait()
		b.ReportMetric(aAlone, "ingest-items/s-alone")
		b.ReportMetric(aArch, "ingest-items/s-archiving")
		b.ReportMetric(pAlone, "projected-items/s-alone")
		b.ReportMetric(pArch, "projected-items/s-archiving")
		b.ReportMetric(float64(rep.Items)/rep.Duration.Seconds(), "archive-items/s")
		b.ReportMetric(rep.Duration.Seconds(), "archive-s")
	}
}
