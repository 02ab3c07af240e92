package archivetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
)

// failingBucket fails the write of one file.
type failingBucket struct {
	archive.Bucket
	mu   sync.Mutex
	fail string
}

var errInjected = errors.New("injected write failure")

func (b *failingBucket) WriteAll(ctx context.Context, key string, data []byte) error {
	b.mu.Lock()
	fail := key == b.fail
	b.mu.Unlock()
	if fail {
		return errInjected
	}
	return b.Bucket.WriteAll(ctx, key, data)
}

// TestArchive_WorkersCommitFilesInLogOrderAndStopAtAFailure archives with
// several workers into many small files: a failed write ends the run with
// its error after committing only files before the failed one, the log
// still reads whole, and the next run archives the rest, the files
// following each other without gaps.
func TestArchive_WorkersCommitFilesInLogOrderAndStopAtAFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := NewEnv(t)
	e.Seed(t, 3, 1, 20, 8) // 80 telemetry events of 8 items: 40 files of 16 items
	want := e.Log(t, 1000)
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var telemetry []domain.RecordedEvent
	for _, ev := range want {
		if ev.Type == domain.TypeMeasurementsRecorded || ev.Type == domain.TypeVehicleEventsRecorded {
			telemetry = append(telemetry, ev)
		}
	}
	// The 12th file holds the 23rd and 24th telemetry events.
	first, last := telemetry[22], telemetry[23]
	y, m, d := first.RecordedAt.UTC().Date()
	bucket := &failingBucket{Bucket: e.Bucket(t), fail: archive.FileKey(time.Date(y, m, d, 0, 0, 0, 0, time.UTC), first.Position, last.Position)}
	cfg := archive.Config{MaxItems: 16, Workers: 3}
	rep, err := archive.NewArchiver(e.Store, bucket, At(head), cfg).Run(ctx)
	if !errors.Is(err, errInjected) {
		t.Fatalf("run with a failing write: %v, want the injected failure", err)
	}
	if rep.Files != 11 {
		t.Fatalf("%d files committed, want the 11 before the one whose write failed", rep.Files)
	}
	sameLog(t, e.Log(t, 7), want)

	bucket.mu.Lock()
	bucket.fail = ""
	bucket.mu.Unlock()
	if _, err := archive.NewArchiver(e.Store, bucket, At(head), cfg).Run(ctx); err != nil {
		t.Fatal(err)
	}
	sameLog(t, e.Log(t, 1000), want)
	ranges, err := e.Store.ArchivedRanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var events int64
	for i, r := range ranges {
		// Each file starts with the telemetry event after the last one
		// of the file before it.
		if r.First != telemetry[events].Position {
			t.Fatalf("file %d starts at %s, want %s", i, r.First, telemetry[events].Position)
		}
		events += r.Events
		if r.Last != telemetry[events-1].Position {
			t.Fatalf("file %d ends at %s, want %s", i, r.Last, telemetry[events-1].Position)
		}
	}
	if events != int64(len(telemetry)) || len(ranges) != 40 {
		t.Fatalf("%d files of %d events archived, want 40 of %d", len(ranges), events, len(telemetry))
	}
}

// TestArchive_StopsBeforeTheFirstYoungEventInsideAPage records telemetry,
// then more after a pause, and archives with the horizon in the pause:
// one page of candidates spans both, and only the first part moves.
func TestArchive_StopsBeforeTheFirstYoungEventInsideAPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := NewEnv(t)
	e.Seed(t, 2, 0, 3, 5) // 2 device events, 6 telemetry events
	time.Sleep(50 * time.Millisecond)
	mid := time.Now()
	time.Sleep(50 * time.Millisecond)
	for i := range 3 {
		id := "st-00"
		e.appendTelemetry(t, ctx, id, domain.RecordMeasurements(id, []domain.Measurement{{ID: "late-" + string(rune('a'+i)), Type: "pm25", Value: 1, MeasuredAt: Day0}}))
	}
	want := e.Log(t, 1000)
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := archive.NewArchiver(e.Store, e.Bucket(t), At(head), archive.Config{Horizon: time.Hour,
		Clock: func() time.Time { return mid.Add(time.Hour) }}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 6 {
		t.Fatalf("archived %d events, want the 6 recorded before the horizon", rep.Events)
	}
	sameLog(t, e.Log(t, 1000), want)
}

// TestArchive_DeletesOldFilesTheLogDoesNotRecord plants what crashed runs
// leave (a file and its manifest never committed, a temporary file cut
// short) beside committed files, and runs the archiver a day and more
// later: the old leftovers go, the committed files and a leftover younger
// than the orphan age stay, and the log reads whole.
func TestArchive_DeletesOldFilesTheLogDoesNotRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := NewEnv(t)
	e.Seed(t, 2, 0, 4, 5)
	want := e.Log(t, 1000)
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := archive.NewArchiver(e.Store, e.Bucket(t), At(head), archive.Config{MaxItems: 10}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	ranges, err := e.Store.ArchivedRanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ranges) != 4 {
		t.Fatalf("%d files archived, want 4", len(ranges))
	}
	later := time.Now().Add(48 * time.Hour)
	plant := func(key string, modified time.Time) {
		t.Helper()
		p := filepath.Join(e.Dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("left behind"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, modified, modified); err != nil {
			t.Fatal(err)
		}
	}
	old, young := "year=2026/month=10/day=24/log-1-2-3-4.parquet", "year=2026/month=10/day=24/log-5-6-7-8.parquet"
	plant(old, time.Now())
	plant(archive.ManifestKey(old), time.Now())
	plant("year=2026/month=10/day=24/.tmp-123", time.Now())
	plant(young, later.Add(-time.Hour))
	plant("notes.txt", time.Now()) // not the archive's: left alone

	rep, err := archive.NewArchiver(e.Store, e.Bucket(t), At(head), archive.Config{Clock: func() time.Time { return later }}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orphans != 1 {
		t.Fatalf("%d orphan files deleted, want 1", rep.Orphans)
	}
	exists := func(key string) bool {
		_, err := os.Stat(filepath.Join(e.Dir, filepath.FromSlash(key)))
		return err == nil
	}
	for _, key := range []string{old, archive.ManifestKey(old), "year=2026/month=10/day=24/.tmp-123"} {
		if exists(key) {
			t.Errorf("%s is still there", key)
		}
	}
	for _, key := range []string{young, "notes.txt"} {
		if !exists(key) {
			t.Errorf("%s was deleted", key)
		}
	}
	for _, r := range ranges {
		if !exists(r.File) || !exists(archive.ManifestKey(r.File)) {
			t.Errorf("committed file %s or its manifest was deleted", r.File)
		}
	}
	sameLog(t, e.Log(t, 1000), want)
}

// TestArchive_APacedRunTakesNoMoreRowsASecondThanItsRate archives 640
// items paced to 800 a second (a burst of 80) into files of at most 64
// rows: the run lasts at least the time the rate allows for what is past
// the first burst, archives everything, and no file holds more rows than
// its bound. The log reads whole afterwards.
func TestArchive_APacedRunTakesNoMoreRowsASecondThanItsRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := NewEnv(t)
	e.Seed(t, 3, 1, 20, 8) // 80 telemetry events of 8 items
	want := e.Log(t, 1000)
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const rate, burst, items = 800, 80, 640
	rep, err := archive.NewArchiver(e.Store, e.Bucket(t), At(head), archive.Config{MaxItems: 64, Workers: 1, Rate: rate}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != items {
		t.Fatalf("archived %d items, want %d", rep.Items, items)
	}
	if least := time.Duration(float64(items-burst) / rate * float64(time.Second)); rep.Duration < least {
		t.Fatalf("a run of %d items paced to %d/s took %s, want at least %s", items, rate, rep.Duration, least)
	}
	ranges, err := e.Store.ArchivedRanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		if r.Items > 64 {
			t.Fatalf("file %s holds %d items, want at most 64", r.File, r.Items)
		}
	}
	if len(ranges) != items/64 {
		t.Fatalf("%d files, want %d of 64 items", len(ranges), items/64)
	}
	sameLog(t, e.Log(t, 1000), want)
}
