package readmodel_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/memstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// retentionEnv projects an in-memory log into real read models whose
// writer and maintenance read an injected clock.
type retentionEnv struct {
	t         *testing.T
	pool      *pgxpool.Pool
	log       *memstore.Store
	now       time.Time
	retention readmodel.Retention
	writer    *readmodel.Writer
	maint     *readmodel.Maintenance
}

type noWait struct{}

func (noWait) Wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Millisecond):
	}
}

func newRetentionEnv(t *testing.T, retention readmodel.Retention, now time.Time) *retentionEnv {
	t.Helper()
	pool, _ := pgtest.NewDatabase(t)
	e := &retentionEnv{t: t, pool: pool, now: now, retention: retention}
	e.log = memstore.New(func() time.Time { return e.now })
	clock := func() time.Time { return e.now }
	var err error
	if e.writer, err = readmodel.NewWriter(pool, readmodel.WriterConfig{Retention: retention, Clock: clock}); err != nil {
		t.Fatal(err)
	}
	if e.maint, err = readmodel.NewMaintenance(pool, retention, clock, quiet); err != nil {
		t.Fatal(err)
	}
	reg, err := domain.RegisterStation("st", domain.StationProfile{Name: "st", Location: domain.Location{Lat: 1, Lon: 2}, TimeZone: "UTC"}, []byte("h"), now)
	if err != nil {
		t.Fatal(err)
	}
	e.append(domain.DeviceStream("st"), reg)
	return e
}

func (e *retentionEnv) append(stream string, ev domain.Event) {
	e.t.Helper()
	data, err := domain.NewEventData(uuid.NewString(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.log.Append(context.Background(), stream, domain.AnyVersion, []domain.EventData{data}); err != nil {
		e.t.Fatal(err)
	}
}

// record appends one batch of pm25 measurements at the given instants.
func (e *retentionEnv) record(at ...time.Time) {
	e.t.Helper()
	b := domain.MeasurementsRecorded{StationID: "st"}
	for _, t := range at {
		b.Measurements = append(b.Measurements, domain.Measurement{ID: uuid.NewString(), Type: "pm25", Value: 1, MeasuredAt: t})
	}
	if _, err := e.log.AppendTelemetry(context.Background(), domain.TelemetryStream("st"), uuid.NewString(), b); err != nil {
		e.t.Fatal(err)
	}
}

func (e *retentionEnv) project() {
	e.t.Helper()
	head, err := e.log.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	p := projections.NewProjector(e.log, noWait{}, e.writer, quiet, projections.Config{BatchSize: 1})
	if _, err := p.CatchUp(context.Background(), head); err != nil {
		e.t.Fatal(err)
	}
}

func (e *retentionEnv) partitions(table string) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1`, table)
	if err != nil {
		e.t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return names
}

func (e *retentionEnv) rawPoints() []time.Time {
	e.t.Helper()
	var out []time.Time
	if err := e.writer.EachRawMeasurement(context.Background(), func(m readmodel.RawMeasurement) error {
		out = append(out, m.MeasuredAt.UTC())
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

func (e *retentionEnv) dailyCounts() map[string]int64 {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT day::text, count FROM rm_daily WHERE device_id = 'st' AND name = 'pm25'`)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int64{}
	var (
		day string
		n   int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&day, &n}, func() error { out[day] = n; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestRetention_PartitionsAreMadeAheadAndDroppedWholeOncePastTheirPeriod:
// with 10-minute raw retention (2-minute partitions) on an injected clock,
// maintenance makes the partitions ahead of now; raw points live in them;
// once a partition is entirely older than the retention it is dropped with
// its points (no DELETE), rm_retention says from when raw data is kept,
// and the daily aggregates still count every point.
func TestRetention_PartitionsAreMadeAheadAndDroppedWholeOncePastTheirPeriod(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newRetentionEnv(t, readmodel.Retention{Raw: 10 * time.Minute, Hourly: time.Hour}, t0)
	if w := readmodel.PartitionWidth(10 * time.Minute); w != time.Minute {
		t.Fatalf("partition width %s for 10 minutes of retention, want 1m (eight fit)", w)
	}
	rep, err := e.maint.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Ahead: at least an hour of one-minute partitions from now.
	ahead := e.partitions("rm_measurement_chunks")
	if len(ahead) < 60 || !slices.Contains(ahead, "rm_measurement_chunks_p202603011200") || len(rep.Made) == 0 {
		t.Fatalf("partitions made ahead: %d (%v...)", len(ahead), ahead[:min(3, len(ahead))])
	}

	e.record(t0.Add(-5*time.Minute), t0.Add(-time.Minute), t0.Add(30*time.Second))
	e.project()
	if got := e.rawPoints(); len(got) != 3 {
		t.Fatalf("raw points %v, want 3", got)
	}

	// Six minutes on (12:06): the point measured at 11:55 is past the
	// 10-minute retention, the others are not.
	e.now = t0.Add(6 * time.Minute)
	rep, err = e.maint.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Dropped, "rm_measurement_chunks_p202603011155") {
		t.Fatalf("dropped %v, want the 11:55 partition among them", rep.Dropped)
	}
	if got := e.rawPoints(); !slices.Equal(got, []time.Time{t0.Add(-time.Minute), t0.Add(30 * time.Second)}) {
		t.Fatalf("raw points after expiry %v, want the two younger ones", got)
	}
	var keptFrom time.Time
	if err := e.pool.QueryRow(context.Background(), `SELECT kept_from FROM rm_retention WHERE table_name = 'rm_measurement_chunks'`).Scan(&keptFrom); err != nil {
		t.Fatal(err)
	}
	// The writer made the partitions from 11:55 on, one a minute; 11:55's is gone.
	if !keptFrom.Equal(t0.Add(-4 * time.Minute)) {
		t.Fatalf("kept from %s, want 11:56 (the oldest partition left)", keptFrom.UTC())
	}
	if got := e.dailyCounts(); got["2026-03-01"] != 3 {
		t.Fatalf("daily counts %v: dropping raw partitions changed the aggregates", got)
	}
	q, err := readmodel.NewQueries(e.pool)
	if err != nil {
		t.Fatal(err)
	}
	if stations, _, err := q.RawRetainedFrom(context.Background()); err != nil || !stations.Equal(keptFrom) {
		t.Fatalf("RawRetainedFrom = %v, %v; want %v", stations, err, keptFrom)
	}
	// Hourly aggregates have their own, longer retention: nothing dropped yet.
	if n := len(e.partitions("rm_hourly")); n == 0 {
		t.Fatal("no hourly partitions")
	}
}

// TestRetention_LateDataForAnExpiredPeriodCountsInTheAggregatesOnly: a
// measurement older than the raw retention when it is projected lands in
// its day (and hour, if that is kept) but is not kept raw, and no
// partition is made for it.
func TestRetention_LateDataForAnExpiredPeriodCountsInTheAggregatesOnly(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	e := newRetentionEnv(t, readmodel.Retention{Raw: 24 * time.Hour, Hourly: 48 * time.Hour}, t0)
	old := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC) // nine days before
	e.record(old, t0.Add(-time.Hour))
	e.project()
	if got := e.rawPoints(); !slices.Equal(got, []time.Time{t0.Add(-time.Hour)}) {
		t.Fatalf("raw points %v, want only the recent one", got)
	}
	if got := e.dailyCounts(); got["2026-03-01"] != 1 || got["2026-03-10"] != 1 {
		t.Fatalf("daily counts %v, want the late measurement counted on 2026-03-01", got)
	}
	for _, p := range e.partitions("rm_measurement_chunks") {
		if strings.HasPrefix(p, "rm_measurement_chunks_p20260301") {
			t.Fatalf("a raw partition %s was made for expired data", p)
		}
	}
	var hourly int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM rm_hourly WHERE hour < '2026-03-02'`).Scan(&hourly); err != nil || hourly != 0 {
		t.Fatalf("hourly rows past the hourly retention: %d, %v", hourly, err)
	}
}

// TestCompaction_TheChunksOfAClosedSpanAreMergedIntoOneKeepingEveryPoint:
// live ingest writes a chunk per series and batch; once a span has closed,
// maintenance merges them; the points are the same, byte for byte, and the
// raw view reads them the same.
func TestCompaction_TheChunksOfAClosedSpanAreMergedIntoOneKeepingEveryPoint(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newRetentionEnv(t, readmodel.Retention{Raw: 30 * 24 * time.Hour, Hourly: 60 * 24 * time.Hour}, t0)
	for m := range 30 { // one batch per minute, as a live station sends
		e.record(t0.Add(-2*time.Hour + time.Duration(m)*time.Minute))
	}
	e.project()
	chunks := func() int {
		var n int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM rm_measurement_chunks`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := e.rawPoints()
	if n := chunks(); n != 30 {
		t.Fatalf("%d chunks before merging, want one per batch (30)", n)
	}
	rep, err := e.maint.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := chunks(); n != 1 || rep.Merged != 29 {
		t.Fatalf("%d chunks after merging (merged away %d), want 1 (29)", n, rep.Merged)
	}
	if after := e.rawPoints(); !slices.Equal(before, after) {
		t.Fatalf("points changed by merging:\n%v\n%v", before, after)
	}
	q, err := readmodel.NewQueries(e.pool)
	if err != nil {
		t.Fatal(err)
	}
	q30 := t0.Add(-2 * time.Hour)
	pts, _, err := q.Points(context.Background(), readapi.PointQuery{StationID: "st", Type: "pm25", From: q30, To: q30.Add(30 * time.Minute), Limit: 1000})
	if err != nil || len(pts) != 30 {
		t.Fatalf("raw view after merging: %d points, %v", len(pts), err)
	}
	// An open span (this hour) is left alone.
	e.record(t0.Add(-10*time.Minute), t0.Add(-5*time.Minute))
	e.project()
	e.record(t0.Add(-time.Minute))
	e.project()
	if _, err := e.maint.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := chunks(); n != 3 {
		t.Fatalf("%d chunks, want the merged one and this open hour's two", n)
	}
}
