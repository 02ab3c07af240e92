package projections_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/infra/retry"
	"github.com/fleetpulse/fleetpulse/projections"
)

type env struct {
	pool  *pgxpool.Pool
	store *eventstore.Store
	rms   *readmodel.Writer
}

func newEnv(t *testing.T) env {
	t.Helper()
	pool, _ := pgtest.NewDatabase(t)
	rms, err := readmodel.NewWriter(pool, keepAll)
	if err != nil {
		t.Fatal(err)
	}
	return env{pool: pool, store: eventstore.New(pool, eventstore.Config{Unbatched: true}), rms: rms}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// keepAll keeps every row of the time-partitioned read models: the tests'
// data is of fixed, past dates.
var keepAll = readmodel.WriterConfig{Retention: readmodel.Retention{Raw: readmodel.KeepForever, Hourly: readmodel.KeepForever}}

type noWait struct{}

func (noWait) Wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Millisecond):
	}
}

func (e env) projector(batch int, store projections.ReadModelStore) *projections.Projector {
	if store == nil {
		store = e.rms
	}
	return projections.NewProjector(e.store, noWait{}, store, quiet, projections.Config{BatchSize: batch,
		Retry: retry.Doubling(100*time.Millisecond, 5*time.Second)})
}

// truncateReadModels empties every read model and checkpoint, as before a
// fresh projection.
func (e env) truncateReadModels(t *testing.T) {
	t.Helper()
	sql := "TRUNCATE " + strings.Join(readmodel.Tables, ", ") + ", projection_checkpoints"
	if _, err := e.pool.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func (e env) head(t *testing.T) domain.Position {
	t.Helper()
	h, err := e.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (e env) catchUp(t *testing.T) {
	t.Helper()
	if _, err := e.projector(500, nil).CatchUp(context.Background(), e.head(t)); err != nil {
		t.Fatalf("catch up: %v", err)
	}
}

func (e env) registerStation(t *testing.T, id, zone string) {
	t.Helper()
	ev, err := domain.RegisterStation(id, domain.StationProfile{Name: id, Location: domain.Location{Lat: 1, Lon: 2}, TimeZone: zone}, []byte("hash"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, err := domain.NewEventData(uuid.NewString(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(context.Background(), domain.DeviceStream(id), domain.NoStream, []domain.EventData{data}); err != nil {
		t.Fatal(err)
	}
}

func (e env) record(t testing.TB, station string, ms ...domain.Measurement) domain.AppendResult {
	t.Helper()
	evs := make([]domain.EventData, len(ms))
	for i, m := range ms {
		if m.ID == "" {
			m.ID = uuid.NewString()
		}
		d, err := domain.NewEventData(uuid.NewSHA1(uuid.NameSpaceOID, []byte(station+"/"+m.ID)).String(), m.Recorded(station))
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = d
	}
	res, err := e.store.Append(context.Background(), domain.TelemetryStream(station), domain.AnyVersion, evs)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

type dailyRow struct {
	Device, Name, Day string
	Count             int64
	Sum, Min, Max     float64
}

func (e env) daily(t *testing.T) []dailyRow {
	t.Helper()
	return e.dailyQuery(t, `SELECT device_id, name, day::text, count, sum, min, max FROM rm_daily ORDER BY 1, 2, 3`)
}

// expectedDaily computes the daily aggregates straight from the event log
// with PostgreSQL's own time zone rules: an oracle independent of the projector.
func (e env) expectedDaily(t *testing.T) []dailyRow {
	t.Helper()
	return e.dailyQuery(t, `
WITH m AS (
    SELECT device_id, type AS name, measured_at AS at, value AS v FROM measurement_items
)
SELECT m.device_id, m.name, (m.at AT TIME ZONE coalesce(nullif(d.timezone, ''), 'UTC'))::date::text,
       count(*), sum(v), min(v), max(v)
FROM m JOIN rm_devices d USING (device_id)
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
}

func (e env) dailyQuery(t *testing.T, sql string) []dailyRow {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dailyRow])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDaily(t *testing.T, got, want []dailyRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d daily rows, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		// Sums are added in another order, so they may differ in the last bits.
		if g.Device != w.Device || g.Name != w.Name || g.Day != w.Day || g.Count != w.Count ||
			g.Min != w.Min || g.Max != w.Max || math.Abs(g.Sum-w.Sum) > 1e-9*math.Max(1, math.Abs(w.Sum)) {
			t.Fatalf("daily row %d: got %+v, want %+v", i, g, w)
		}
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestProjector_MeasurementsAppearInRawDailyAndLatest(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "st-1", "")
	e.record(t, "st-1",
		domain.Measurement{Type: "pm25", Value: 10, MeasuredAt: at("2026-03-01T10:00:00Z")},
		domain.Measurement{Type: "pm25", Value: 30, MeasuredAt: at("2026-03-01T12:00:00Z")},
		domain.Measurement{Type: "pm25", Value: 20, MeasuredAt: at("2026-03-01T11:00:00Z")},
		domain.Measurement{Type: "no2", Value: 5, MeasuredAt: at("2026-03-02T00:00:00Z")},
	)
	e.catchUp(t)

	var raw int
	if err := e.pool.QueryRow(context.Background(), `SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks WHERE device_id = 'st-1'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != 4 {
		t.Errorf("raw rows = %d, want 4", raw)
	}
	sameDaily(t, e.daily(t), []dailyRow{
		{"st-1", "no2", "2026-03-02", 1, 5, 5, 5},
		{"st-1", "pm25", "2026-03-01", 3, 60, 10, 30},
	})
	var latest float64
	if err := e.pool.QueryRow(context.Background(), `SELECT value FROM rm_latest WHERE device_id = 'st-1' AND name = 'pm25'`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	if latest != 30 {
		t.Errorf("latest pm25 = %v, want 30 (newest by measured time, not by arrival)", latest)
	}
}

func TestDailyAggregate_FollowsDeviceTimeZoneAcrossDST(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "waw", "Europe/Warsaw")
	// Warsaw moves from UTC+1 to UTC+2 at 2026-03-29 01:00 UTC; that local day has 23 hours.
	e.record(t, "waw",
		domain.Measurement{Type: "pm25", Value: 1, MeasuredAt: at("2026-03-28T22:59:00Z")}, // 23:59 +01 on the 28th
		domain.Measurement{Type: "pm25", Value: 2, MeasuredAt: at("2026-03-28T23:00:00Z")}, // 00:00 +01 on the 29th
		domain.Measurement{Type: "pm25", Value: 3, MeasuredAt: at("2026-03-29T21:59:00Z")}, // 23:59 +02 on the 29th
		domain.Measurement{Type: "pm25", Value: 4, MeasuredAt: at("2026-03-29T22:00:00Z")}, // 00:00 +02 on the 30th
		// Autumn: back to UTC+1 at 2026-10-25 01:00 UTC; that day has 25 hours.
		domain.Measurement{Type: "pm25", Value: 5, MeasuredAt: at("2026-10-24T22:00:00Z")}, // 00:00 +02 on the 25th
		domain.Measurement{Type: "pm25", Value: 6, MeasuredAt: at("2026-10-25T22:59:00Z")}, // 23:59 +01 on the 25th
		domain.Measurement{Type: "pm25", Value: 7, MeasuredAt: at("2026-10-25T23:00:00Z")}, // 00:00 +01 on the 26th
	)
	e.catchUp(t)
	sameDaily(t, e.daily(t), []dailyRow{
		{"waw", "pm25", "2026-03-28", 1, 1, 1, 1},
		{"waw", "pm25", "2026-03-29", 2, 5, 2, 3},
		{"waw", "pm25", "2026-03-30", 1, 4, 4, 4},
		{"waw", "pm25", "2026-10-25", 2, 11, 5, 6},
		{"waw", "pm25", "2026-10-26", 1, 7, 7, 7},
	})
	sameDaily(t, e.daily(t), e.expectedDaily(t))
}

func TestDailyAggregate_LateMeasurementLandsInItsOwnDay(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "st", "America/New_York")
	e.record(t, "st", domain.Measurement{Type: "pm25", Value: 10, MeasuredAt: at("2026-06-10T12:00:00Z")})
	e.catchUp(t)
	// Months later, a measurement from last year arrives, and one more for June 10th.
	e.record(t, "st",
		domain.Measurement{Type: "pm25", Value: 99, MeasuredAt: at("2025-01-01T03:00:00Z")}, // Dec 31st in New York
		domain.Measurement{Type: "pm25", Value: 2, MeasuredAt: at("2026-06-10T13:00:00Z")},
	)
	e.catchUp(t)
	sameDaily(t, e.daily(t), []dailyRow{
		{"st", "pm25", "2024-12-31", 1, 99, 99, 99},
		{"st", "pm25", "2026-06-10", 2, 12, 2, 10},
	})
	var latest float64
	_ = e.pool.QueryRow(context.Background(), `SELECT value FROM rm_latest WHERE device_id = 'st'`).Scan(&latest)
	if latest != 2 {
		t.Errorf("latest = %v, want 2: a late old reading must not replace a newer one", latest)
	}
}

func TestDailyAggregate_TwoReadingsAtTheSameInstantAreTwoRows(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "st", "")
	when := at("2026-05-05T05:05:05Z")
	e.record(t, "st",
		domain.Measurement{ID: "a", Type: "pm25", Value: 1, MeasuredAt: when},
		domain.Measurement{ID: "b", Type: "pm25", Value: 3, MeasuredAt: when})
	e.catchUp(t)
	sameDaily(t, e.daily(t), []dailyRow{{"st", "pm25", "2026-05-05", 2, 4, 1, 3}})
	var raw int
	_ = e.pool.QueryRow(context.Background(), `SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks`).Scan(&raw)
	if raw != 2 {
		t.Errorf("raw rows = %d, want 2", raw)
	}
}

func TestEventStore_RepeatedIDIsADuplicateAndCountedOnce(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "st", "")
	m := domain.Measurement{ID: "m-1", Type: "pm25", Value: 7, MeasuredAt: at("2026-01-01T00:00:00Z")}
	if res := e.record(t, "st", m); len(res.Duplicates) != 0 {
		t.Fatalf("first append reported duplicates %v", res.Duplicates)
	}
	res := e.record(t, "st", m, m)
	if len(res.Duplicates) != 2 {
		t.Fatalf("repeated append: duplicates = %v, want both", res.Duplicates)
	}
	e.catchUp(t)
	sameDaily(t, e.daily(t), []dailyRow{{"st", "pm25", "2026-01-01", 1, 7, 7, 7}})
}

// randomMeasurements makes n measurements spread over a few days and types.
func randomMeasurements(rng *rand.Rand, n int) []domain.Measurement {
	ms := make([]domain.Measurement, n)
	base := at("2026-03-27T00:00:00Z")
	types := []string{"pm25", "pm10", "no2"}
	for i := range ms {
		ms[i] = domain.Measurement{
			Type:       types[rng.IntN(len(types))],
			Value:      math.Round(rng.Float64()*1000) / 10,
			MeasuredAt: base.Add(time.Duration(rng.Int64N(int64(96 * time.Hour)))),
		}
	}
	return ms
}

// TestProjector_ConcurrentWritersAreNeverSkippedNorDoubleCounted runs many
// appenders at once while the projector runs, then compares the projection
// with the log.
func TestProjector_ConcurrentWritersAreNeverSkippedNorDoubleCounted(t *testing.T) {
	e := newEnv(t)
	const writers, appends, perAppend = 12, 25, 20
	for i, zone := range []string{"", "Europe/Warsaw", "Asia/Tokyo", "America/New_York"} {
		e.registerStation(t, fmt.Sprintf("st-%d", i), zone)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	projector := e.projector(37, nil)
	projErr := make(chan error, 1)
	go func() { projErr <- projector.Run(ctx) }()

	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < appends; i++ {
				e.record(t, fmt.Sprintf("st-%d", w%4), randomMeasurements(rng, perAppend)...)
			}
		}(w)
	}
	wg.Wait()
	waitForCount(t, e.pool, writers*appends*perAppend)
	cancel()
	if err := <-projErr; err != nil {
		t.Fatal(err)
	}
	sameDaily(t, e.daily(t), e.expectedDaily(t))
}

func waitForCount(t *testing.T, pool *pgxpool.Pool, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got int
	for time.Now().Before(deadline) {
		if err := pool.QueryRow(context.Background(), `SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got != want {
		t.Fatalf("raw rows = %d, want %d", got, want)
	}
}

// crashingStore aborts some transactions part-way, as a killed projector would.
type crashingStore struct {
	projections.ReadModelStore
	rng     *rand.Rand
	crashes int
	mu      sync.Mutex
}

var errCrash = errors.New("projector crashed")

func (c *crashingStore) Apply(ctx context.Context, name string, from, to domain.Position, ch *projections.Changes) error {
	c.mu.Lock()
	crash := c.rng.IntN(3) == 0
	delay := time.Duration(c.rng.IntN(3000)) * time.Microsecond
	c.mu.Unlock()
	if !crash {
		return c.ReadModelStore.Apply(ctx, name, from, to, ch)
	}
	c.crashes++
	ctx, cancel := context.WithTimeout(ctx, delay)
	defer cancel()
	if err := c.ReadModelStore.Apply(ctx, name, from, to, ch); err != nil {
		return fmt.Errorf("%w: %w", errCrash, err)
	}
	return errCrash // committed, but the process died before it learnt so
}

func TestProjector_CrashesMidBatchThenRestartGivesIdenticalAggregates(t *testing.T) {
	e := newEnv(t)
	for i, zone := range []string{"Europe/Warsaw", "Australia/Sydney"} {
		e.registerStation(t, fmt.Sprintf("st-%d", i), zone)
	}
	rng := rand.New(rand.NewPCG(42, 42))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 60; i++ {
			e.record(t, fmt.Sprintf("st-%d", i%2), randomMeasurements(rng, 50)...)
		}
	}()
	crashing := &crashingStore{ReadModelStore: e.rms, rng: rand.New(rand.NewPCG(1, 1))}
	// Each loop is one process lifetime: a fresh projector that reloads its
	// checkpoint, runs until it crashes, and is started again; after ingest
	// ends it goes on crashing and restarting until it reaches the log's end.
	ingestDone := false
	for restarts := 0; ; restarts++ {
		if !ingestDone {
			select {
			case <-done:
				ingestDone = true
			default:
			}
		}
		_, err := e.projector(64, crashing).CatchUp(context.Background(), e.head(t))
		if err != nil && !errors.Is(err, errCrash) {
			t.Fatalf("projector failed: %v", err)
		}
		if err == nil && ingestDone {
			break
		}
		if restarts > 10000 {
			t.Fatal("projector never caught up")
		}
	}
	if crashing.crashes == 0 {
		t.Fatal("no crash was injected")
	}
	t.Logf("projector crashed %d times", crashing.crashes)
	crashed := e.daily(t)
	sameDaily(t, crashed, e.expectedDaily(t))

	// A fresh projection of the same log gives identical tables.
	e.truncateReadModels(t)
	e.catchUp(t)
	sameDaily(t, e.daily(t), crashed)
}

// applyWatcher counts the pages of the log read while a batch is being
// applied; each Apply takes a while, as a large batch's writes do.
type applyWatcher struct {
	projections.ReadModelStore
	log      projections.EventLog
	applying atomic.Bool
	overlaps atomic.Int64
	mu       sync.Mutex
	asked    []int // the sizes of the pages read while a batch was applied
}

func (w *applyWatcher) Apply(ctx context.Context, name string, from, to domain.Position, ch *projections.Changes) error {
	w.applying.Store(true)
	defer w.applying.Store(false)
	time.Sleep(20 * time.Millisecond)
	return w.ReadModelStore.Apply(ctx, name, from, to, ch)
}

func (w *applyWatcher) ReadAfter(ctx context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	if w.applying.Load() {
		w.overlaps.Add(1)
		w.mu.Lock()
		w.asked = append(w.asked, max)
		w.mu.Unlock()
	}
	return w.log.ReadAfter(ctx, after, max)
}

func TestProjector_ReadsTheNextPageOfABacklogWhileItAppliesABatch(t *testing.T) {
	e := newEnv(t)
	e.registerStation(t, "st-0", "Europe/Warsaw")
	rng := rand.New(rand.NewPCG(7, 7))
	for range 20 {
		e.record(t, "st-0", randomMeasurements(rng, 10)...)
	}
	w := &applyWatcher{ReadModelStore: e.rms, log: e.store}
	// Pages of 16 events, batches of 8 items (a measurement is an event
	// here): the page read ahead is of the events a batch took, not 16.
	p := projections.NewProjector(w, noWait{}, w, quiet, projections.Config{BatchSize: 16, MaxItems: 8})
	n, err := p.CatchUp(context.Background(), e.head(t))
	if err != nil {
		t.Fatal(err)
	}
	if n != 201 {
		t.Fatalf("applied %d events, want 201", n)
	}
	// 26 batches: all but the first are read during the batch before them.
	if got := w.overlaps.Load(); got < 20 {
		t.Fatalf("%d pages read while a batch was applied, want most of the 25 after the first", got)
	}
	// (9 after the first batch: it took the station's registration too.)
	for _, asked := range w.asked {
		if asked != 8 && asked != 9 {
			t.Fatalf("a page of %d events read ahead, want the 8 or 9 a batch took", asked)
		}
	}
	sameDaily(t, e.daily(t), e.expectedDaily(t))
}
