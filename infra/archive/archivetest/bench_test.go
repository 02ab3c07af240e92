package archivetest

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
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
