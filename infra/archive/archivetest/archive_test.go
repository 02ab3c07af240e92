package archivetest

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
)

// Environment of the archiving child process of the crash test.
const (
	childDBEnv  = "FLEETPULSE_ARCHIVE_CHILD_DB"
	childDirEnv = "FLEETPULSE_ARCHIVE_CHILD_DIR"
)

// TestArchiveChild is the process the crash test kills: it archives the
// whole log of the database it is given, two telemetry events a file.
func TestArchiveChild(t *testing.T) {
	dbURL, dir := os.Getenv(childDBEnv), os.Getenv(childDirEnv)
	if dbURL == "" {
		t.Skip("the crash test's child process")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bucket, err := archive.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := eventstore.New(pool, eventstore.Config{Unbatched: true})
	defer st.Close()
	end := domain.Position{Commit: 1 << 62, Prepare: 1 << 62}
	if _, err := archive.NewArchiver(st, bucket, At(end), archive.Config{MaxItems: 16}).Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestArchive_KilledAtRandomPointsLeavesEveryEventExactlyOnce kills an
// archiving process at random points, again and again, and checks after
// each kill that every event of the log is in exactly one place: still in
// PostgreSQL or in an archive file that the log records and whose
// checksum and content verify.
func TestArchive_KilledAtRandomPointsLeavesEveryEventExactlyOnce(t *testing.T) {
	t.Parallel()
	e := NewEnv(t)
	e.Seed(t, 3, 1, 30, 8) // 4 + 1 device events, 120 telemetry events of 8 items: 60 files
	want := e.Log(t, 1000)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	run := func(kill bool) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestArchiveChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childDBEnv+"="+e.URL, childDirEnv+"="+e.Dir)
		if !kill {
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("archive child: %v\n%s", err, out)
			}
			return
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	kills := 0
	for range 6 {
		run(true)
		kills++
		sameLog(t, e.Log(t, 7), want)
		t.Logf("kill %d: %d events left in PostgreSQL", kills, e.HotEvents(t))
		if e.HotEvents(t) == int64(len(want)-120) {
			break // all archived before the kill
		}
	}
	run(false)
	sameLog(t, e.Log(t, 1000), want)
	if hot := e.HotEvents(t); hot != 5 {
		run(false) // a run that ended early because the readable end of the log lagged
	}
	if hot := e.HotEvents(t); hot != 5 {
		t.Fatalf("%d events left in PostgreSQL after archiving everything, want the 5 device events", hot)
	}
	ranges, err := e.Store.ArchivedRanges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var events int64
	for _, r := range ranges {
		events += r.Events
	}
	if events != 120 || len(ranges) != 60 {
		t.Fatalf("%d files of %d events archived, want 60 of 120", len(ranges), events)
	}
}

// sameLog checks that got is want: every event once, in log order, with
// its content.
func sameLog(t *testing.T, got, want []domain.RecordedEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the log reads %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Position != w.Position || g.StreamID != w.StreamID || g.StreamVersion != w.StreamVersion || !g.RecordedAt.Equal(w.RecordedAt) {
			t.Fatalf("event %d reads as %s at %s, want %s at %s", i, g.ID, g.Position, w.ID, w.Position)
		}
		ge, err := g.Decode()
		if err != nil {
			t.Fatal(err)
		}
		we, err := w.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if gs, ws := canonical(t, ge), canonical(t, we); gs != ws {
			t.Fatalf("event %d at %s reads as\n%s\nwant\n%s", i, g.Position, gs, ws)
		}
	}
}

func TestRebuild_AfterArchivingHalfTheLogEqualsTheRebuildBefore(t *testing.T) {
	t.Parallel()
	e := NewEnv(t)
	e.Seed(t, 3, 2, 8, 20)
	e.Project(t)
	rep := e.Rebuild(t)
	before := e.Snapshot(t)
	log := e.Log(t, 1000)
	if rep.Events != len(log) {
		t.Fatalf("rebuild before archiving read %d events, the log holds %d", rep.Events, len(log))
	}

	half := log[len(log)/2].Position
	ar := archive.NewArchiver(e.Store, e.Bucket(t), At(half), archive.Config{MaxItems: 100})
	ar2, err := ar.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ar2.Files < 2 || ar2.Events == 0 {
		t.Fatalf("archived %+v, want several files", ar2)
	}
	if hot := e.HotEvents(t); hot != int64(len(log))-ar2.Events {
		t.Fatalf("%d events in PostgreSQL after archiving %d of %d", hot, ar2.Events, len(log))
	}
	// Every file has its manifest beside it, saying what the log recorded.
	ranges, err := e.Store.ArchivedRanges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		b, err := e.Bucket(t).ReadAll(context.Background(), archive.ManifestKey(r.File))
		if err != nil {
			t.Fatal(err)
		}
		var m archive.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.File != r.File || m.SHA256 != r.SHA256 || m.Events != r.Events || m.Items != r.Items || m.Bytes != r.Bytes ||
			m.SchemaVersion != archive.SchemaVersion || m.FirstPosition != r.First.String() || m.LastPosition != r.Last.String() {
			t.Fatalf("manifest %+v, the log recorded %+v", m, r)
		}
	}
	n, _, err := e.Store.Backlog(context.Background(), domain.Start)
	if err != nil || n != int64(len(log)) {
		t.Fatalf("Backlog(start) = %d, %v; want the whole log, %d", n, err, len(log))
	}

	rep = e.Rebuild(t)
	if rep.Events != len(log) {
		t.Fatalf("rebuild after archiving read %d events, want %d", rep.Events, len(log))
	}
	if after := e.Snapshot(t); after != before {
		t.Fatalf("read models rebuilt after archiving differ:\n got %+v\nwant %+v", after, before)
	}
	sameLog(t, e.Log(t, 333), log)
}

func TestArchive_StopsAtTheLowestCheckpointAndTheHorizon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := NewEnv(t)
	e.Seed(t, 2, 0, 10, 5)
	log := e.Log(t, 1000)
	for _, tc := range []struct {
		name    string
		lowest  domain.Position
		horizon time.Duration
		clock   func() time.Time
		want    int64 // events archived
	}{
		{"nothing before the first telemetry event", log[1].Position, 0, nil, 0},
		{"nothing recorded within the horizon", log[len(log)-1].Position, time.Hour, nil, 0},
		{"up to the checkpoint", log[6].Position, 0, nil, 5}, // log[2..6]
		{"everything older than the horizon", log[len(log)-1].Position, time.Hour, func() time.Time { return time.Now().Add(2 * time.Hour) }, 15},
	} {
		rep, err := archive.NewArchiver(e.Store, e.Bucket(t), At(tc.lowest), archive.Config{Horizon: tc.horizon, Clock: tc.clock}).Run(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rep.Events != tc.want {
			t.Fatalf("%s: archived %d events, want %d", tc.name, rep.Events, tc.want)
		}
	}
	sameLog(t, e.Log(t, 4), log)
}

func TestCorrections_OfArchivedMeasurementsAreFoundAndApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := NewEnv(t)
	f := e.Seed(t, 2, 0, 4, 5)
	e.Project(t)
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := archive.NewArchiver(e.Store, e.Bucket(t), At(head), archive.Config{}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if hot := e.HotEvents(t); hot != 3 {
		t.Fatalf("%d events in PostgreSQL, want only the 2 registrations and an update", hot)
	}
	now := Day0.Add(48 * time.Hour)
	app := commands.NewApplication(e.Store, func() time.Time { return now }, domain.TelemetryPolicy{MaxFutureSkew: time.Hour, CorrectionWindow: 30 * 24 * time.Hour})
	admin := commands.Caller{Admin: true}
	station := f.Stations[1]
	// st-01-2 is a pm25 reading measured at Day0+20m; st-01-3 a no2 one.
	if _, err := app.CorrectMeasurement.Handle(ctx, &commands.CorrectMeasurement{Caller: admin, StationID: station, MeasurementID: station + "-2",
		Value: 999, Reason: "sensor swap", Actor: "ops"}); err != nil {
		t.Fatalf("correct an archived measurement: %v", err)
	}
	if _, err := app.RetractMeasurement.Handle(ctx, &commands.RetractMeasurement{Caller: admin, StationID: station, MeasurementID: station + "-3",
		Reason: "calibration", Actor: "ops"}); err != nil {
		t.Fatalf("retract an archived measurement: %v", err)
	}
	_, err = app.CorrectMeasurement.Handle(ctx, &commands.CorrectMeasurement{Caller: admin, StationID: station, MeasurementID: "never-recorded",
		Value: 1, Reason: "x", Actor: "ops"})
	if !errors.Is(err, domain.ErrMeasurementNotFound) {
		t.Fatalf("correct a measurement never recorded: %v, want ErrMeasurementNotFound", err)
	}
	e.Project(t)
	got := e.Query(t, `SELECT name, max FROM rm_daily WHERE device_id = $1 AND name = 'pm25' AND day = $2::date`, station, Day0.Format(time.DateOnly))
	if len(got) != 1 || got[0] != "pm25999" {
		t.Fatalf("pm25 day after the correction: %v, want max 999", got)
	}
	var no2 []string
	if err := e.RMs.EachRawMeasurement(ctx, func(m readmodelRaw) error {
		if m.DeviceID == station && m.ID == station+"-3" {
			no2 = append(no2, m.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(no2) != 0 {
		t.Fatalf("the retracted measurement is still in the raw read model")
	}
	// And a rebuild from archive and log agrees with the live projection.
	live := e.Snapshot(t)
	e.Rebuild(t)
	if rebuilt := e.Snapshot(t); rebuilt != live {
		t.Fatalf("rebuild after corrections of archived measurements differs:\n got %+v\nwant %+v", rebuilt, live)
	}
}

func TestReadingAFileOfAnUnknownSchemaVersionFailsClearly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := NewEnv(t)
	e.Seed(t, 1, 0, 3, 2)
	log := e.Log(t, 100)
	if _, err := archive.NewArchiver(e.Store, e.Bucket(t), At(log[len(log)-1].Position), archive.Config{}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	// As if a newer fleetpulse had archived it.
	if _, err := e.Pool.Exec(ctx, `UPDATE event_archive SET schema_version = 2`); err != nil {
		t.Fatal(err)
	}
	_, err := e.Store.ReadAfter(ctx, domain.Start, 100)
	if !errors.Is(err, archive.ErrUnknownSchemaVersion) || !strings.Contains(err.Error(), "schema version 2, this fleetpulse reads version 1 only") {
		t.Fatalf("ReadAfter = %v, want ErrUnknownSchemaVersion naming both versions", err)
	}
}
