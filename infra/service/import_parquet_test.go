package service_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/infra/archive/archivetest"
	"github.com/fleetpulse/fleetpulse/infra/importer"
	"github.com/fleetpulse/fleetpulse/infra/postgres/importjobs"
)

// The log's telemetry item by item, as the archive keeps it.
const (
	measurementItemsSQL = `SELECT device_id, measurement_id, type, value, measured_at FROM measurement_items ORDER BY 1, 2`
	vehicleItemsSQL     = `SELECT device_id, eid, type, occurred_at, readings, location, data FROM vehicle_event_items ORDER BY 1, 2`
)

// TestImport_ArchiveFilesIntoAFreshDatabaseGiveTheSameReadModels archives a
// fleet's telemetry, imports the archive files into a fresh database with
// the same devices, and finds the same items and the same read models;
// importing them again, there or into the database they came from (whose
// item keys outlive the archived events), stores nothing twice.
func TestImport_ArchiveFilesIntoAFreshDatabaseGiveTheSameReadModels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := archivetest.NewEnv(t)
	fleet := src.Seed(t, 3, 2, 6, 20)
	src.Project(t)
	want := src.Snapshot(t)
	wantMeasurements, wantVehicles := src.Query(t, measurementItemsSQL), src.Query(t, vehicleItemsSQL)
	if len(wantMeasurements) != fleet.Measurements || len(wantVehicles) != fleet.VehicleEvents || strings.HasPrefix(want.Daily, "0:") {
		t.Fatalf("seeded %d measurements and %d vehicle events, %s daily rows; want %d, %d and some", len(wantMeasurements), len(wantVehicles), want.Daily, fleet.Measurements, fleet.VehicleEvents)
	}
	log := src.Log(t, 1000)
	if _, err := archive.NewArchiver(src.Store, src.Bucket(t), archivetest.At(log[len(log)-1].Position), archive.Config{MaxItems: 250}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	ranges, err := src.Store.ArchivedRanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var files [][]byte
	for _, r := range ranges {
		data, err := src.Bucket(t).ReadAll(ctx, r.File)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, data)
	}
	if len(files) < 2 {
		t.Fatalf("%d archive files, want several", len(files))
	}

	dst := archivetest.NewEnv(t)
	dst.Seed(t, 3, 2, 0, 0) // the same devices, no telemetry
	items := int64(fleet.Measurements + fleet.VehicleEvents)
	if got := importFiles(t, dst, files); got.Rows != items || got.Accepted != items || got.Duplicates != 0 || got.Rejected != 0 {
		t.Fatalf("import: %+v, want all %d items accepted", got, items)
	}
	dst.Project(t)
	got := dst.Snapshot(t)
	if got.Daily != want.Daily || got.Hourly != want.Hourly || got.Latest != want.Latest || got.Raw != want.Raw {
		t.Errorf("read models after the import differ:\n got %+v\nwant %+v", got, want)
	}
	if m := dst.Query(t, measurementItemsSQL); !slices.Equal(m, wantMeasurements) {
		t.Errorf("%d measurements imported, want the %d recorded, the same", len(m), len(wantMeasurements))
	}
	if v := dst.Query(t, vehicleItemsSQL); !slices.Equal(v, wantVehicles) {
		t.Errorf("%d vehicle events imported, want the %d recorded, the same", len(v), len(wantVehicles))
	}

	// As an import job (an upload's body read back from PostgreSQL): every
	// item of the file a duplicate now.
	jobs := importjobs.New(dst.Pool)
	job, err := jobs.Create(ctx, importer.Parquet, bytes.NewReader(files[0]))
	if err != nil {
		t.Fatal(err)
	}
	im := importer.New(importer.Handlers{App: commands.NewApplication(dst.Store, time.Now, domain.DefaultTelemetryPolicy)},
		importer.Config{Policy: domain.DefaultTelemetryPolicy, Archive: archive.ReadFile})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runner := importer.NewRunner(im, jobs, importer.RunnerConfig{Poll: 10 * time.Millisecond}, archivetest.Quiet)
	go func() { _ = runner.Run(runCtx) }()
	for deadline := time.Now().Add(15 * time.Second); job.State != importer.StateDone; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || job.State == importer.StateFailed {
			t.Fatalf("the Parquet job is %s (%s), want done", job.State, job.Failure)
		}
		if job, err = jobs.Get(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if job.Format != importer.Parquet || job.Rows != ranges[0].Items || job.Duplicates != job.Rows {
		t.Errorf("the Parquet job: %s, %d rows, %d duplicates; want parquet, the file's %d items, all duplicates", job.Format, job.Rows, job.Duplicates, ranges[0].Items)
	}

	for name, env := range map[string]*archivetest.Env{"again": dst, "into the source": src} {
		if got := importFiles(t, env, files); got.Rows != items || got.Duplicates != items {
			t.Errorf("import %s: %+v, want all %d items duplicates", name, got, items)
		}
	}
}

// importFiles imports archive files through env's command handlers and
// adds up their progress.
func importFiles(t *testing.T, env *archivetest.Env, files [][]byte) importer.Progress {
	t.Helper()
	ctx := context.Background()
	app := commands.NewApplication(env.Store, time.Now, domain.DefaultTelemetryPolicy)
	im := importer.New(importer.Handlers{App: app}, importer.Config{BatchSize: 70, Policy: domain.DefaultTelemetryPolicy, Archive: archive.ReadFile})
	var total importer.Progress
	for _, data := range files {
		dec, err := im.NewDecoder(importer.Parquet, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		p, err := im.Run(ctx, dec, importer.Progress{}, func(context.Context, importer.Progress) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		total.Rows += p.Rows
		total.Accepted += p.Accepted
		total.Duplicates += p.Duplicates
		total.Rejected += p.Rejected
		total.Rejections = append(total.Rejections, p.Rejections...)
	}
	return total
}
