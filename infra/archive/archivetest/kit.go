// Package archivetest is the test kit of the archive against real
// PostgreSQL: a throwaway database with the event store reading through an
// archive in a temporary directory, a seeded fleet, projection and
// rebuild helpers, and snapshots of the read models to compare. Its own
// tests are the crash test of archiving, the rebuild equality test and the
// corrections of archived measurements.
package archivetest

import (
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

// Env is a database, its event store reading through the archive in Dir,
// and the read models' writer.
type Env struct {
	Pool  *pgxpool.Pool
	URL   string
	Store *eventstore.Store
	Dir   string
	RMs   *readmodel.Writer
}

// KeepAll keeps every row of the time-partitioned read models.
var KeepAll = readmodel.WriterConfig{Retention: readmodel.Retention{Raw: readmodel.KeepForever, Hourly: readmodel.KeepForever}}

// Quiet discards logs.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// NewEnv makes a throwaway database and an archive directory.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	pool, url := pgtest.NewDatabase(t)
	dir := t.TempDir()
	bucket, err := archive.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rms, err := readmodel.NewWriter(pool, KeepAll)
	if err != nil {
		t.Fatal(err)
	}
	st := eventstore.New(pool, eventstore.Config{Unbatched: true, Archive: archive.NewReader(bucket)})
	t.Cleanup(st.Close)
	return &Env{Pool: pool, URL: url, Store: st, Dir: dir, RMs: rms}
}

// Bucket is the env's archive directory as a bucket.
func (e *Env) Bucket(t testing.TB) archive.Bucket {
	t.Helper()
	b, err := archive.NewDir(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Fleet is what Seed recorded.
type Fleet struct {
	Stations, Vehicles []string
	Measurements       int
	VehicleEvents      int
}

// Day0 is the first day of seeded telemetry.
var Day0 = time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC)

// Seed registers stations (every other one in Europe/Warsaw, whose DST
// ends on 2026-10-25) and vehicles, and records batches of smooth
// random-walk telemetry through AppendTelemetry, devices taking turns, so
// the log interleaves devices, device events and telemetry.
func (e *Env) Seed(t testing.TB, stations, vehicles, batches, perBatch int) Fleet {
	t.Helper()
	ctx := context.Background()
	var f Fleet
	for i := range stations {
		id := fmt.Sprintf("st-%02d", i)
		zone := ""
		if i%2 == 1 {
			zone = "Europe/Warsaw"
		}
		e.register(t, id, domain.StationRegistered{StationID: id, StationProfile: domain.StationProfile{Name: id,
			Location: domain.Location{Lat: 50, Lon: 20}, TimeZone: zone}, RegisteredAt: Day0})
		f.Stations = append(f.Stations, id)
	}
	for i := range vehicles {
		id := fmt.Sprintf("veh-%02d", i)
		e.register(t, id, domain.VehicleRegistered{VID: id, VehicleProfile: domain.VehicleProfile{Name: id}, RegisteredAt: Day0})
		f.Vehicles = append(f.Vehicles, id)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	values := map[string]float64{}
	for b := range batches {
		for _, id := range f.Stations {
			ms := make([]domain.Measurement, perBatch)
			for j := range ms {
				n := b*perBatch + j
				v := math.Round((values[id]+rng.NormFloat64()*0.3)*10) / 10
				values[id] = v
				ms[j] = domain.Measurement{ID: id + "-" + strconv.Itoa(n), Type: []string{"pm25", "no2"}[n%2], Value: v,
					MeasuredAt: Day0.Add(time.Duration(n) * 10 * time.Minute)}
			}
			e.appendTelemetry(t, ctx, id, domain.RecordMeasurements(id, ms))
			f.Measurements += perBatch
		}
		for _, id := range f.Vehicles {
			es := make([]domain.VehicleEvent, perBatch)
			for j := range es {
				n := b*perBatch + j
				v := math.Round((values[id]+rng.NormFloat64())*10) / 10
				values[id] = v
				es[j] = domain.VehicleEvent{EID: id + "-" + strconv.Itoa(n), Type: "telemetry", OccurredAt: Day0.Add(time.Duration(n) * 7 * time.Minute),
					Readings: map[string]float64{"speed_kmh": math.Abs(v), "battery_v": 13.1}, Location: &domain.Location{Lat: 50 + v/1000, Lon: 19.9}}
				if n%5 == 0 {
					es[j].Data = []byte(`{"door": "open"}`)
				}
			}
			e.appendTelemetry(t, ctx, id, domain.RecordVehicleEvents(id, es))
			f.VehicleEvents += perBatch
		}
		if b == batches/3 && len(f.Stations) > 0 {
			// A device event in the middle of the telemetry.
			id := f.Stations[0]
			data, _ := domain.NewEventData(uuid.NewString(), domain.StationUpdated{StationID: id, StationProfile: domain.StationProfile{Name: id + " moved",
				Location: domain.Location{Lat: 51, Lon: 20}}, UpdatedAt: Day0})
			if _, err := e.Store.Append(ctx, domain.DeviceStream(id), domain.AnyVersion, []domain.EventData{data}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

func (e *Env) register(t testing.TB, id string, ev domain.Event) {
	t.Helper()
	data, err := domain.NewEventData(uuid.NewString(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Append(context.Background(), domain.DeviceStream(id), domain.NoStream, []domain.EventData{data}); err != nil {
		t.Fatal(err)
	}
}

func (e *Env) appendTelemetry(t testing.TB, ctx context.Context, id string, b domain.TelemetryBatch) {
	t.Helper()
	if _, err := e.Store.AppendTelemetry(ctx, domain.TelemetryStream(id), uuid.NewString(), b); err != nil {
		t.Fatal(err)
	}
}

// Log reads the whole log through the store (archive first, then live),
// in batches of batch events, up to its head: it waits for transactions
// of other databases on the server that hold the readable end back.
func (e *Env) Log(t testing.TB, batch int) []domain.RecordedEvent {
	t.Helper()
	ctx := context.Background()
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []domain.RecordedEvent
	after := domain.Start
	deadline := time.Now().Add(30 * time.Second)
	for after.Less(head) {
		evs, err := e.Store.ReadAfter(ctx, after, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the log is readable up to %s only, its head is %s", after, head)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].Position
	}
	return out
}

// HotEvents counts the events left in PostgreSQL.
func (e *Env) HotEvents(t testing.TB) int64 {
	t.Helper()
	var n int64
	if err := e.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Project brings the live read models up to the log's head.
func (e *Env) Project(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := projections.NewProjector(e.Store, e.Store, e.RMs, Quiet, projections.Config{BatchSize: 500})
	if _, err := p.CatchUp(ctx, head); err != nil {
		t.Fatal(err)
	}
}

// Rebuild rebuilds the read models from the whole log and swaps them in.
func (e *Env) Rebuild(t testing.TB) projections.RebuildReport {
	t.Helper()
	ctx := context.Background()
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := readmodel.CreateShadow(ctx, e.Pool, KeepAll)
	if err != nil {
		t.Fatal(err)
	}
	defer shadow.Close()
	rep, err := projections.Rebuild(ctx, e.Store, e.Store, shadow, head, Quiet, projections.Config{BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	// The live writer's state belongs to the swapped-out tables.
	if e.RMs, err = readmodel.NewWriter(e.Pool, KeepAll); err != nil {
		t.Fatal(err)
	}
	return rep
}

// Snapshot is every read model in a comparable form.
type Snapshot struct {
	Daily, Hourly, Latest, Devices, Raw string
}

// Snapshot captures the read models.
func (e *Env) Snapshot(t testing.TB) Snapshot {
	t.Helper()
	ctx := context.Background()
	digest := func(sql string) string {
		t.Helper()
		var s string
		if err := e.Pool.QueryRow(ctx, sql).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var lines []string
	if err := e.RMs.EachRawMeasurement(ctx, func(m readmodel.RawMeasurement) error {
		lines = append(lines, fmt.Sprintf("%s|%s|%s|%s|%v", m.DeviceID, m.ID, m.Type, m.MeasuredAt.UTC().Format(time.RFC3339Nano), m.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return Snapshot{
		// Sums are added in batches that two projections of one log cut
		// differently: they may differ in the last bits.
		Daily:   digest(`SELECT count(*) || ':' || coalesce(md5(string_agg(device_id || name || day || count || round(sum::numeric, 6) || min || max, ',' ORDER BY device_id, name, day)), '') FROM rm_daily`),
		Hourly:  digest(`SELECT count(*) || ':' || coalesce(md5(string_agg(device_id || name || hour || count || min || max, ',' ORDER BY device_id, name, hour)), '') FROM rm_hourly`),
		Latest:  digest(`SELECT count(*) || ':' || coalesce(md5(string_agg(device_id || name || value || measured_at, ',' ORDER BY device_id, name)), '') FROM rm_latest`),
		Devices: digest(`SELECT count(*) || ':' || coalesce(md5(string_agg(device_id || kind || name || timezone || version, ',' ORDER BY device_id)), '') FROM rm_devices`),
		Raw:     fmt.Sprintf("%d:%x", len(lines), md5.Sum([]byte(strings.Join(lines, ",")))),
	}
}

// At returns a function that always answers p: a lowest checkpoint fixed
// by the test.
func At(p domain.Position) func(context.Context) (domain.Position, error) {
	return func(context.Context) (domain.Position, error) { return p, nil }
}

// Query runs sql and returns its rows as strings, one per row.
func (e *Env) Query(t testing.TB, sql string, args ...any) []string {
	t.Helper()
	rows, err := e.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		vals, err := r.Values()
		return fmt.Sprint(vals...), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
