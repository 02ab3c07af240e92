package projections_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

// The benchmarks run only with -bench, on a throwaway database (pgtest):
//
//	go test ./projections/ -run '^$' -bench . -benchtime 3x
//
// Each iteration projects the whole pre-appended log (benchEvents
// measurements of benchStations stations) into fresh shadow read-model
// tables, which are shaped like the live ones (same indexes): that is what a
// rebuild does, and what the live projector does per batch.

const (
	benchStations = 100
	benchEvents   = 100_000
	benchPerCall  = 100 // measurements per request, as devices post them
)

var benchZones = []string{"Europe/Warsaw", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"}

// fillLog appends station registrations and then benchEvents measurements,
// benchPerCall per station at a time, a minute apart per station and spread
// over five measurement types: the log the command API writes, one event
// per call (batched) or, as the first log format, one event per measurement.
func fillLog(b *testing.B, store *eventstore.Store, batched bool) domain.Position {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	for s := 0; s < benchStations; s++ {
		id := fmt.Sprintf("bench-%03d", s)
		e, err := domain.RegisterStation(id, domain.StationProfile{Name: id, Location: domain.Location{Lat: 50, Lon: 19},
			TimeZone: benchZones[s%len(benchZones)]}, []byte("0123456789abcdef0123456789abcdef"), now)
		if err != nil {
			b.Fatal(err)
		}
		d, err := domain.NewEventData(uuid.NewString(), e)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Append(ctx, domain.DeviceStream(id), domain.NoStream, []domain.EventData{d}); err != nil {
			b.Fatal(err)
		}
	}
	types := []string{"pm25", "pm10", "no2", "temperature", "humidity"}
	start := now.Add(-30 * 24 * time.Hour)
	perStation := make([]int, benchStations)
	for call := 0; call*benchPerCall < benchEvents; call++ {
		s := call % benchStations
		id := fmt.Sprintf("bench-%03d", s)
		evs := make([]domain.EventData, benchPerCall)
		for k := range evs {
			n := perStation[s]
			perStation[s]++
			mid := uuid.NewString()
			e := domain.MeasurementRecorded{StationID: id, MeasurementID: mid, Type: types[n%len(types)],
				Value: float64(n%500) / 10, MeasuredAt: start.Add(time.Duration(n/len(types)) * time.Minute)}
			d, err := domain.NewEventData(mid, e)
			if err != nil {
				b.Fatal(err)
			}
			evs[k] = d
		}
		if batched {
			batch := domain.MeasurementsRecorded{StationID: id}
			for _, d := range evs {
				e, err := domain.DecodeEvent(d.Type, d.Data)
				if err != nil {
					b.Fatal(err)
				}
				m := e.(domain.MeasurementRecorded)
				batch.Measurements = append(batch.Measurements, domain.Measurement{ID: m.MeasurementID, Type: m.Type, Value: m.Value, MeasuredAt: m.MeasuredAt})
			}
			if _, err := store.AppendTelemetry(ctx, domain.TelemetryStream(id), uuid.NewString(), batch); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if _, err := store.Append(ctx, domain.TelemetryStream(id), domain.AnyVersion, evs); err != nil {
			b.Fatal(err)
		}
	}
	head, err := store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return head
}

// BenchmarkProjection projects benchEvents pre-appended measurements from
// the start of the log, in batches of the live projector's default (2000)
// and the rebuild's (5000), and reports events/s and measurements/s: for a
// log of batches (one event per call) and one of the first format (one
// event per measurement).
func BenchmarkProjection(b *testing.B) {
	for _, format := range []string{"batches", "items"} {
		b.Run("log="+format, func(b *testing.B) { benchmarkProjection(b, format == "batches") })
	}
}

func benchmarkProjection(b *testing.B, batched bool) {
	pool, _ := pgtest.NewDatabase(b)
	store := eventstore.New(pool, eventstore.Config{Unbatched: true})
	head := fillLog(b, store, batched)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{2000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			events := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				shadow, err := readmodel.CreateShadow(ctx, pool, keepAll)
				if err != nil {
					b.Fatal(err)
				}
				// CreateShadow empties the shadow tables but leaves the
				// checkpoint of the projection that fills them (it deletes
				// "_rebuild", not "read_models_rebuild"): start it over here.
				name := shadow.CheckpointName(projections.ReadModels)
				if _, err := pool.Exec(ctx, `DELETE FROM projection_checkpoints WHERE name = $1`, name); err != nil {
					b.Fatal(err)
				}
				p := projections.NewProjector(store, noWait{}, shadow, quiet,
					projections.Config{Name: name, BatchSize: batch})
				b.StartTimer()
				n, err := p.CatchUp(ctx, head)
				b.StopTimer()
				shadow.Close()
				if err != nil {
					b.Fatal(err)
				}
				events += n
				b.StartTimer()
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "measurements/s")
		})
	}
}

// BenchmarkRebuild is the whole `fleetpulse rebuild`: shadow tables filled
// from the log, then swapped in for the live ones.
func BenchmarkRebuild(b *testing.B) {
	pool, _ := pgtest.NewDatabase(b)
	store := eventstore.New(pool, eventstore.Config{Unbatched: true})
	head := fillLog(b, store, true)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	events := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		shadow, err := readmodel.CreateShadow(ctx, pool, keepAll)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		report, err := projections.Rebuild(ctx, store, noWait{}, shadow, head, quiet, projections.Config{})
		b.StopTimer()
		shadow.Close()
		if err != nil {
			b.Fatal(err)
		}
		events += report.Events
		b.StartTimer()
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "measurements/s")
}

// BenchmarkProjectionShares projects the pre-appended log of batches into
// fresh shadow tables with the projection partitioned into 1, 2 and 4
// shares, one projector per share side by side (each reads the whole log
// and applies its devices' events): what N projector processes do. It
// reports measurements/s of the log, the CPU this Go process used per
// second (the projectors), and how busy the machine's cores were
// (PostgreSQL and everything else on the machine too):
//
//	go test ./projections/ -run '^$' -bench ProjectionShares -benchtime 3x
func BenchmarkProjectionShares(b *testing.B) {
	pool, _ := pgtest.NewDatabase(b)
	store := eventstore.New(pool, eventstore.Config{Unbatched: true})
	head := fillLog(b, store, true)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("shares=%d", n), func(b *testing.B) {
			var cpu, pgCPU time.Duration
			var busy, total int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				shadow, err := readmodel.CreateShadow(ctx, pool, keepAll)
				if err != nil {
					b.Fatal(err)
				}
				cpu0, pg0 := processCPU(b), backendCPU(b, pool)
				busy0, total0 := machineCPU(b)
				b.StartTimer()
				var wg sync.WaitGroup
				errs := make([]error, n)
				for s := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						p := projections.NewProjector(store, noWait{}, shadow, quiet, projections.Config{
							Name: shadow.CheckpointName(projections.ReadModels), Share: projections.Share{Index: s, Count: n}})
						_, errs[s] = p.CatchUp(ctx, head)
					}()
				}
				wg.Wait()
				b.StopTimer()
				cpu += processCPU(b) - cpu0
				pgCPU += backendCPU(b, pool) - pg0
				b1, t1 := machineCPU(b)
				busy, total = busy+b1-busy0, total+t1-total0
				shadow.Close()
				if err := errors.Join(errs...); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(benchEvents*b.N)/secs, "measurements/s")
			b.ReportMetric(cpu.Seconds()/secs, "go-cpu-s/s")
			b.ReportMetric(pgCPU.Seconds()/secs, "pg-cpu-s/s")
			b.ReportMetric(float64((cpu+pgCPU).Microseconds())/float64(benchEvents*b.N), "cpu-µs/measurement")
			b.ReportMetric(100*float64(busy)/float64(max(total, 1)), "machine-busy-%")
		})
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the CPU time the PostgreSQL backends serving the test's
// database have used (/proc/<pid>/stat of each; the server runs on this
// machine). Backends that exit are no longer counted: the benchmark's pool
// keeps its connections.
func backendCPU(b *testing.B, pool *pgxpool.Pool) time.Duration {
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var ticks int
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone, or another machine's
		}
		// Fields after the command name (which may hold spaces): utime
		// and stime are the 12th and 13th.
		_, rest, _ := strings.Cut(string(raw), ") ")
		f := strings.Fields(rest)
		for _, i := range []int{11, 12} {
			v, _ := strconv.Atoi(f[i])
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// machineCPU reads the busy and total jiffies of every core (/proc/stat).
func machineCPU(b *testing.B) (busy, total int) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Skip("no /proc/stat:", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, err := strconv.Atoi(f)
		if err != nil {
			b.Fatal(err)
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}
