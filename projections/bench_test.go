package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

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
