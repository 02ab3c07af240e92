package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/fleetpulse/fleetpulse/domain"
)

var day = time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC) // a DST day in Europe

func TestFile_EveryTelemetryShapeReadsBackAsWritten(t *testing.T) {
	t.Parallel()
	b := newLogBuilder(t)
	at := day.Add(time.Hour)
	b.add("telemetry-s1", domain.RecordMeasurements("s1", []domain.Measurement{
		{ID: "m1", Type: "pm25", Value: 12.3, MeasuredAt: at}, {ID: "m2", Type: "no2", Value: -0.5, MeasuredAt: at},
		{ID: "m0", Type: "pm25", Value: 11, MeasuredAt: at.Add(-time.Minute)}}), at)
	b.add("telemetry-s1", domain.MeasurementRecorded{StationID: "s1", MeasurementID: "old", Type: "pm25", Value: 3, MeasuredAt: at}, at)
	b.add("telemetry-v1", domain.RecordVehicleEvents("v1", []domain.VehicleEvent{
		{EID: "e1", Type: "telemetry", OccurredAt: at, Readings: map[string]float64{"speed_kmh": 50.5, "rpm": 2000}, Location: &domain.Location{Lat: 50.1, Lon: 19.9}},
		{EID: "e2", Type: "door_open", OccurredAt: at.Add(time.Second), Data: json.RawMessage(`{"door": "left", "n": [1, 2]}`)},
		{EID: "e3", Type: "ping", OccurredAt: at.Add(2 * time.Second)}}), at.Add(time.Second))
	b.add("telemetry-v2", domain.VehicleEventRecorded{VID: "v2", EID: "first", Type: "telemetry", OccurredAt: at,
		Readings: map[string]float64{"speed_kmh": 1}}, at.Add(2*time.Second))

	data, sum, err := encodeFile(b.events)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != 4 || sum.Items != 8 || sum.First != b.events[0].Position || sum.Last != b.events[3].Position {
		t.Fatalf("summary %+v, want 4 events, 8 items, %s..%s", sum, b.events[0].Position, b.events[3].Position)
	}
	got, err := decodeFile("f", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(b.events) {
		t.Fatalf("%d events read back, want %d", len(got), len(b.events))
	}
	for i := range got {
		if err := sameEvent(b.events[i], got[i]); err != nil {
			t.Errorf("event %d: %v\nwrote %s\nread  %s", i, err, b.events[i].Data, got[i].Data)
		}
	}
}

func TestFile_OfAnUnknownSchemaVersionIsRefused(t *testing.T) {
	t.Parallel()
	b := newLogBuilder(t)
	b.add("telemetry-s1", domain.RecordMeasurements("s1", []domain.Measurement{{ID: "m1", Type: "pm25", Value: 1, MeasuredAt: day}}), day)
	rows, _, err := rowsOf(b.events)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []parquet.WriterOption
		want string
	}{
		{"newer version", []parquet.WriterOption{parquet.KeyValueMetadata(metaSchemaVersion, "2")}, "schema version 2"},
		{"no version", nil, "no fleetpulse.schema_version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := parquet.NewGenericWriter[row](&buf, tc.opts...)
			if _, err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, err := decodeFile("year=2026/x.parquet", buf.Bytes())
			if !errors.Is(err, ErrUnknownSchemaVersion) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("decode = %v, want ErrUnknownSchemaVersion saying %q", err, tc.want)
			}
		})
	}
}

// threeFiles archives 48 station events into a new directory as three
// verified files, of events 0-9, 10-29 and 30-47.
func threeFiles(t *testing.T) (*Dir, *logBuilder, []domain.ArchivedRange) {
	t.Helper()
	ctx := context.Background()
	dir, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := newLogBuilder(t)
	b.stationHistory(2, 1, day) // 48 events
	var ranges []domain.ArchivedRange
	arch := NewArchiver(nil, dir, nil, Config{})
	for _, part := range [][]domain.RecordedEvent{b.events[:10], b.events[10:30], b.events[30:]} {
		rows, sum, err := rowsOf(part)
		if err != nil {
			t.Fatal(err)
		}
		data, sum, err := encodeRows(rows, sum)
		if err != nil {
			t.Fatal(err)
		}
		r := domain.ArchivedRange{File: FileKey(day, sum.First, sum.Last), First: sum.First, Last: sum.Last, Events: sum.Events,
			Bytes: int64(len(data)), SchemaVersion: SchemaVersion}
		r.SHA256 = sha(data)
		if err := dir.WriteAll(ctx, r.File, data); err != nil {
			t.Fatal(err)
		}
		if err := arch.verify(ctx, r, rows, serially); err != nil {
			t.Fatal(err)
		}
		ranges = append(ranges, r)
	}
	return dir, b, ranges
}

// checkRead reads up to max events after a position and checks that they
// are the want events of b from index first on.
func checkRead(t *testing.T, reader *Reader, ranges []domain.ArchivedRange, b *logBuilder, after domain.Position, max, want, first int) {
	t.Helper()
	got, err := reader.Read(context.Background(), ranges, after, max)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("Read(after %s, %d) = %d events, want %d", after, max, len(got), want)
	}
	for i, e := range got {
		if e.ID != b.events[first+i].ID {
			t.Fatalf("Read(after %s)[%d] = %s, want %s", after, i, e.Position, b.events[first+i].Position)
		}
	}
}

func TestReader_ReadsAcrossFilesAfterAnyPosition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, b, ranges := threeFiles(t)
	reader := NewReader(dir)
	for _, tc := range []struct {
		after     domain.Position
		max, want int
		first     int // index of the first event expected
	}{
		{domain.Start, 1000, 48, 0},
		{domain.Start, 25, 25, 0},
		{b.events[9].Position, 5, 5, 10},
		{b.events[9].Position, 100, 38, 10},
		{b.events[47].Position, 10, 0, 0},
	} {
		checkRead(t, reader, ranges, b, tc.after, tc.max, tc.want, tc.first)
	}
	// A file the log records as of a newer schema version is refused.
	newer := append([]domain.ArchivedRange(nil), ranges...)
	newer[2].SchemaVersion = SchemaVersion + 1
	if _, err := NewReader(dir).Read(ctx, newer, b.events[40].Position, 10); !errors.Is(err, ErrUnknownSchemaVersion) {
		t.Fatalf("reading a file of a newer schema version: %v, want ErrUnknownSchemaVersion", err)
	}
	// A changed file is refused by its checksum.
	if err := dir.WriteAll(ctx, ranges[1].File, []byte("not parquet")); err != nil {
		t.Fatal(err)
	}
	reader = NewReader(dir)
	if _, err := reader.Read(ctx, ranges, b.events[12].Position, 10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a changed file: %v, want ErrCorrupt", err)
	}
}

// countingBucket counts each key's reads, and fails the first read of a
// key in failOnce.
type countingBucket struct {
	Bucket
	mu       sync.Mutex
	reads    map[string]int
	failOnce map[string]bool
}

func (c *countingBucket) ReadAll(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	c.reads[key]++
	fail := c.failOnce[key]
	delete(c.failOnce, key)
	c.mu.Unlock()
	if fail {
		return nil, errors.New("bucket unavailable")
	}
	return c.Bucket.ReadAll(ctx, key)
}

func (c *countingBucket) readsOf(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[key]
}

func TestReader_ReadsTheNextFileAheadAndReadsOneThatFailedAgain(t *testing.T) {
	t.Parallel()
	dir, b, ranges := threeFiles(t)
	bucket := &countingBucket{Bucket: dir, reads: map[string]int{}, failOnce: map[string]bool{ranges[2].File: true}}
	reader := NewReader(bucket)
	waitForRead := func(key string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); bucket.readsOf(key) == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s was not read ahead", key)
			}
		}
	}
	checkRead(t, reader, ranges, b, domain.Start, 5, 5, 0)
	waitForRead(ranges[1].File)
	checkRead(t, reader, ranges, b, b.events[9].Position, 20, 20, 10) // the file read ahead: not read again
	if n := bucket.readsOf(ranges[1].File); n != 1 {
		t.Fatalf("the second file was read %d times, want once (ahead)", n)
	}
	// The third file's read ahead fails; it is read again when asked for.
	waitForRead(ranges[2].File)
	checkRead(t, reader, ranges, b, b.events[29].Position, 18, 18, 30)
	if n := bucket.readsOf(ranges[2].File); n != 2 {
		t.Fatalf("the third file was read %d times, want twice (ahead, failed, then again)", n)
	}
}

func TestDir_RefusesKeysOutsideItAndReportsMissingFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../x", "/etc/x", "", "a/../../x"} {
		if err := dir.WriteAll(ctx, key, []byte("x")); err == nil {
			t.Errorf("WriteAll(%q) succeeded, want refused", key)
		}
	}
	if err := dir.WriteAll(ctx, "year=2026/a.parquet", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := dir.WriteAll(ctx, "year=2026/a.parquet", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, err := dir.ReadAll(ctx, "year=2026/a.parquet"); err != nil || string(got) != "two" {
		t.Fatalf("ReadAll = %q, %v; want two", got, err)
	}
	if _, err := dir.ReadAll(ctx, "year=2026/b.parquet"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadAll of a missing key: %v, want fs.ErrNotExist", err)
	}
}

func sha(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

func TestOpenBucket_OpensDirectoriesAndS3URLsAndRefusesOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{dir + "/plain", true},
		{"file://" + dir + "/url", true},
		{"s3://fleet-archive/prod?region=eu-central-1", true}, // opened lazily: no request is made
		{"ftp://example.com/archive", false},
		{"gs://fleet-archive", false},
	} {
		b, err := OpenBucket(ctx, tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("OpenBucket(%q) = %v, want ok %v", tc.url, err, tc.ok)
			continue
		}
		if d, isDir := b.(*Dir); isDir {
			if err := d.WriteAll(ctx, "k", []byte("v")); err != nil {
				t.Errorf("OpenBucket(%q): %v", tc.url, err)
			}
		}
	}
}
