package eventstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// The benchmarks run only with -bench, each on a throwaway database of its
// own (pgtest), e.g.:
//
//	go test ./infra/postgres/eventstore/ -run '^$' -bench . -benchtime 3s
//
// Each reports events/s; the setup (generating events, filling the log for
// BenchmarkReadAfter) is outside the timer.

const benchStreams = 256

// benchMeasurements returns n measurement events spread over benchStreams
// stations, as the command API would store them.
func benchMeasurements(n int) []domain.EventData {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]domain.EventData, n)
	for i := range evs {
		id := uuid.NewString()
		e := domain.MeasurementRecorded{StationID: fmt.Sprintf("bench-%03d", i%benchStreams), MeasurementID: id,
			Type: "pm25", Value: float64(i%1000) / 10, MeasuredAt: at.Add(time.Duration(i) * time.Second)}
		d, err := domain.NewEventData(id, e)
		if err != nil {
			panic(err)
		}
		evs[i] = d
	}
	return evs
}

// prefilledStore returns a store on a fresh database that already holds
// benchPrefill events, vacuumed and analyzed: a store that has been running
// a while (see BenchmarkAppendAfterEmptyStart for one that has not).
func prefilledStore(b *testing.B) (*eventstore.Store, *pgxpool.Pool) {
	b.Helper()
	pool, _ := pgtest.NewDatabase(b)
	store := newStore(b, pool, eventstore.Config{Unbatched: true})
	ctx := context.Background()
	evs := benchMeasurements(benchPrefill)
	for i := 0; i < benchPrefill; i += 1000 {
		stream := domain.TelemetryStream(fmt.Sprintf("bench-%03d", (i/1000)%benchStreams))
		if _, err := store.Append(ctx, stream, domain.AnyVersion, evs[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return store, pool
}

const benchPrefill = 20_000

// newStore returns a store on pool, closed when b ends.
func newStore(b *testing.B, pool *pgxpool.Pool, cfg eventstore.Config) *eventstore.Store {
	b.Helper()
	store := eventstore.New(pool, cfg)
	b.Cleanup(store.Close)
	return store
}

// BenchmarkAppend appends batches of 1, 100 and 1000 events, one
// transaction per batch, round robin over many streams, from one writer.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		store, _ := prefilledStore(b)
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) { appendRoundRobin(b, store, size) })
	}
}

// appendRoundRobin appends b.N batches of size events, one transaction each,
// round robin over benchStreams telemetry streams, and reports events/s.
func appendRoundRobin(b *testing.B, store *eventstore.Store, size int) {
	b.Helper()
	evs := benchMeasurements(b.N * size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stream := domain.TelemetryStream(fmt.Sprintf("bench-%03d", i%benchStreams))
		if _, err := store.Append(context.Background(), stream, domain.AnyVersion, evs[i*size:(i+1)*size]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendAfterEmptyStart reproduces the command API's slowdown:
// the store starts on an empty log and its first appends are small (device
// registrations), so each pooled connection's prepared "which of these ids
// are stored" query switches to a generic plan costed for an empty table (a
// sequential scan). Nothing invalidates that plan while the table grows
// unless the table is analyzed (autovacuum is off on this machine), so
// every later append scans the whole log, comparing each row with every id
// of the batch: events/s falls as the log grows. Compare with
// BenchmarkAppend/batch=100 on an analyzed log.
func BenchmarkAppendAfterEmptyStart(b *testing.B) {
	pool, _ := pgtest.NewDatabase(b)
	store := newStore(b, pool, eventstore.Config{Unbatched: true})
	ctx := context.Background()
	for i, e := range benchMeasurements(20) { // registrations: one event each
		if _, err := store.Append(ctx, domain.DeviceStream(fmt.Sprintf("dev-%d", i)), domain.NoStream, []domain.EventData{e}); err != nil {
			b.Fatal(err)
		}
	}
	const size = 100
	b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) { appendRoundRobin(b, store, size) })
	logPlans(b, pool, "= ANY($1::uuid[])")
}

// logPlans logs, for every idle pooled connection, how PostgreSQL has been
// planning the prepared statements whose text contains fragment (generic or
// custom plans so far) and the plan an execution would use now.
func logPlans(b *testing.B, pool *pgxpool.Pool, fragment string) {
	b.Helper()
	ctx := context.Background()
	for _, c := range pool.AcquireAllIdle(ctx) {
		var name string
		var generic, custom int64
		err := c.QueryRow(ctx, `SELECT name, generic_plans, custom_plans FROM pg_prepared_statements
WHERE strpos(statement, $1) > 0 LIMIT 1`, fragment).Scan(&name, &generic, &custom)
		if err != nil {
			c.Release()
			continue
		}
		var plan []string
		rows, err := c.Query(ctx, "EXPLAIN EXECUTE "+pgx.Identifier{name}.Sanitize()+"('{00000000-0000-0000-0000-000000000000}')",
			pgx.QueryExecModeSimpleProtocol)
		if err == nil {
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			plan = []string{err.Error()}
		}
		b.Logf("connection %d: %d generic and %d custom plans; now: %s", c.Conn().PgConn().PID(), generic, custom, strings.Join(plan, " / "))
		c.Release()
	}
}

// BenchmarkAppendConcurrent is the command API's shape: many concurrent
// callers of 1 or 100 events, straight to the store (Unbatched: one
// transaction per call) and through the batcher (calls share transactions).
func BenchmarkAppendConcurrent(b *testing.B) {
	ctx := context.Background()
	for _, batched := range []bool{false, true} {
		for _, size := range []int{1, 100} {
			store, pool := prefilledStore(b)
			appendFn, name := store.Append, "store"
			if batched {
				appendFn, name = newStore(b, pool, eventstore.Config{}).Append, "batcher"
			}
			b.Run(fmt.Sprintf("%s/batch=%d/callers=16", name, size), func(b *testing.B) {
				evs := benchMeasurements(b.N * size)
				var next atomic.Int64
				b.SetParallelism(8) // 16 goroutines on 2 cores
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(next.Add(1) - 1)
						stream := domain.TelemetryStream(fmt.Sprintf("bench-%03d", i%benchStreams))
						if _, err := appendFn(ctx, stream, domain.AnyVersion, evs[i*size:(i+1)*size]); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkReadAfter reads a pre-filled log of 100,000 events in log order,
// max events per call, as projectors do.
func BenchmarkReadAfter(b *testing.B) {
	pool, _ := pgtest.NewDatabase(b)
	store := newStore(b, pool, eventstore.Config{Unbatched: true})
	ctx := context.Background()
	const total = 100_000
	evs := benchMeasurements(total)
	for i := 0; i < total; i += 1000 {
		if _, err := store.Append(ctx, domain.TelemetryStream(fmt.Sprintf("bench-%03d", (i/1000)%benchStreams)), domain.AnyVersion, evs[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	for _, max := range []int{500, 2000, 5000} {
		b.Run(fmt.Sprintf("max=%d", max), func(b *testing.B) {
			pos, read := domain.Start, 0
			for i := 0; i < b.N; i++ {
				got, err := store.ReadAfter(ctx, pos, max)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) == 0 {
					pos = domain.Start // wrap around
					i--
					continue
				}
				read += len(got)
				pos = got[len(got)-1].Position
			}
			b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendTelemetry is the command API's shape since telemetry is
// recorded in batches: 16 concurrent callers, each appending one station's
// batch of 100 measurements through the batcher, on a store whose
// de-duplication table already holds benchTelemetryPrefill item keys (its
// index is what an append searches and grows). Reports measurements/s.
func BenchmarkAppendTelemetry(b *testing.B) {
	ctx := context.Background()
	pool, _ := pgtest.NewDatabase(b)
	store := newStore(b, pool, eventstore.Config{})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := func(i, size int) domain.MeasurementsRecorded {
		station := fmt.Sprintf("bench-%03d", i%benchStreams)
		ms := make([]domain.Measurement, size)
		for j := range ms {
			ms[j] = domain.Measurement{ID: uuid.NewString(), Type: "pm25", Value: float64(j), MeasuredAt: at.Add(time.Duration(i*size+j) * time.Second)}
		}
		return domain.RecordMeasurements(station, ms)
	}
	for i := 0; i < benchTelemetryPrefill/5000; i++ {
		e := batch(i, 5000)
		if _, err := store.AppendTelemetry(ctx, domain.TelemetryStream(e.StationID), uuid.NewString(), e); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
	const size = 100
	batches := make([]domain.MeasurementsRecorded, b.N)
	for i := range batches {
		batches[i] = batch(i, size)
	}
	var next atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := batches[next.Add(1)-1]
			if _, err := store.AppendTelemetry(ctx, domain.TelemetryStream(e.StationID), uuid.NewString(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "measurements/s")
}

const benchTelemetryPrefill = 1_000_000
