package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"runtime"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Log is what the Archiver needs from the event store
// (infra/postgres/eventstore.Store).
type Log interface {
	// ArchiveCandidates returns up to max telemetry events that may be
	// archived next, in log order: after the last archived range and
	// after after, at or before upTo, before the first event recorded at
	// or after before.
	ArchiveCandidates(ctx context.Context, before time.Time, upTo, after domain.Position, max int) ([]domain.RecordedEvent, error)
	// CommitArchive records r and deletes its events (at positions) in one
	// transaction, or changes nothing.
	CommitArchive(ctx context.Context, r domain.ArchivedRange, positions []int64) error
	// ArchivedRanges returns every archived range (the files committed).
	ArchivedRanges(ctx context.Context) ([]domain.ArchivedRange, error)
}

// Config tunes an Archiver.
type Config struct {
	// Horizon: only events recorded longer ago than this are archived.
	Horizon time.Duration
	// MaxItems bounds the rows of one file (default DefaultMaxItems): what
	// a reader holds in memory while it serves the file.
	MaxItems int
	// Clock tells the time the horizon counts back from (default time.Now).
	Clock func() time.Time
	// Logger reports each file archived (default: discarded).
	Logger *slog.Logger
	// Workers bounds the goroutines that decode, encode and verify at
	// once, so the cores a run takes (default runtime.GOMAXPROCS(0)).
	// Reading the log and committing files come on top, and wait for
	// PostgreSQL mostly.
	Workers int
	// OrphanAge: a file in a Collectable bucket that the log does not
	// record, last written longer ago than this, was left by a run that
	// stopped between its write and its commit, and is deleted at the
	// start of a run (default DefaultOrphanAge).
	OrphanAge time.Duration
	// Rate bounds the rows a run archives per second (0: as fast as the
	// workers go). A run on the machine that also ingests takes a core
	// for as long as it lasts; paced, it takes a share of one, and
	// ingest keeps the rest (the projector's schedule,
	// FLEETPULSE_ARCHIVE_RATE).
	Rate float64
}

// DefaultMaxItems is Config.MaxItems' default. A reader decodes a whole
// file before it serves the file's first event (a file is sorted by
// series, not in log order), so a rebuild waits for the first file, and
// reads each next one while it projects the one before: files of 200,000
// station measurements made a rebuild from a short archive a quarter
// slower than one from PostgreSQL, files of 50,000 as fast, at 2.6-2.7 B
// a measurement against 2.5-2.7 (docs/benchmarks.md, "Archive").
const DefaultMaxItems = 50_000

// maxFileEvents bounds the log events of one file.
const maxFileEvents = 20_000

// Archiver moves sealed, old stretches of the log into archive files.
type Archiver struct {
	log    Log
	bucket Bucket
	lowest func(ctx context.Context) (domain.Position, error)
	cfg    Config
}

// NewArchiver returns an archiver of log's telemetry into bucket. lowest
// returns the lowest checkpoint of every reader of the log (projections,
// the forwarder, any other consumer): nothing after it is archived.
func NewArchiver(log Log, bucket Bucket, lowest func(ctx context.Context) (domain.Position, error), cfg Config) *Archiver {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.OrphanAge <= 0 {
		cfg.OrphanAge = DefaultOrphanAge
	}
	return &Archiver{log: log, bucket: bucket, lowest: lowest, cfg: cfg}
}

// Report says what a run archived.
type Report struct {
	Files, Events, Items, Bytes int64
	Duration                    time.Duration
	// Orphans is the number of files deleted that earlier runs wrote and
	// never committed.
	Orphans int64
}

// Run archives until nothing more may be archived, or ctx ends. A crash at
// any point leaves each event either in the log or in a verified file that
// the log records, never both and never neither: a file is committed (its
// events deleted from the log) only after it was read back and checked,
// files are committed one after the other in log order, and a file
// written but not committed is written again by the next run.
//
// The work is a pipeline (pipeline.go): one goroutine reads the next
// pages of candidates from the log while up to Config.Workers others
// decode pages and encode and verify files; the caller's goroutine
// commits the files in log order.
func (a *Archiver) Run(ctx context.Context) (Report, error) {
	start := time.Now()
	var rep Report
	// Orphans first: a file this run writes is younger than OrphanAge. A
	// failure to collect them does not stop the run: they hold nothing
	// anyone reads.
	n, err := a.collectOrphans(ctx)
	rep.Orphans = n
	if err != nil && ctx.Err() == nil {
		a.cfg.Logger.Warn("archive: collecting files earlier runs never committed failed; trying again next run", "err", err)
	}
	err = a.pipeline(ctx, func(f *fileJob) error {
		r := f.rng
		if err := a.log.CommitArchive(ctx, r, f.positions); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		rep.Files++
		rep.Events += r.Events
		rep.Items += r.Items
		rep.Bytes += r.Bytes
		a.cfg.Logger.Info("archived", "file", r.File, "first", r.First.String(), "last", r.Last.String(),
			"events", r.Events, "items", r.Items, "bytes", r.Bytes)
		return nil
	})
	rep.Duration = time.Since(start)
	if err == nil {
		err = ctx.Err()
	}
	return rep, err
}

// maxFileBytes bounds the event data of one file, besides
// Config.MaxItems rows and maxFileEvents events: about 32,000 vehicle
// samples (~500 B of JSON each, and its decoded row several times that). A run writes one file while it reads the
// next, so a history of vehicle samples in 64 MB files archived at two
// thirds of the rate of 16 MB ones (37.5 B a sample either way), and a
// reader holds a quarter of the memory.
const maxFileBytes = 16 << 20

func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// FileKey is the key of the file holding the log from first to last,
// recorded on day (UTC): Hive-style year=/month=/day= partitions, which
// DuckDB, Spark and Trino read as columns.
func FileKey(day time.Time, first, last domain.Position) string {
	return fmt.Sprintf("year=%04d/month=%02d/day=%02d/log-%d-%d-%d-%d.parquet", day.Year(), day.Month(), day.Day(),
		first.Commit, first.Prepare, last.Commit, last.Prepare)
}

// Manifest is the JSON document written beside each file (ManifestKey):
// what the file holds and its checksum. The event store
// keeps the same facts (event_archive) and is the record of which files
// are committed; a file without a row there holds nothing to read.
type Manifest struct {
	File          string    `json:"file"`
	SchemaVersion int       `json:"schema_version"`
	FirstPosition string    `json:"first_position"`
	LastPosition  string    `json:"last_position"`
	Events        int64     `json:"events"`
	Items         int64     `json:"items"`
	Bytes         int64     `json:"bytes"`
	SHA256        string    `json:"sha256"`
	RecordedFrom  time.Time `json:"recorded_from"`
	RecordedUntil time.Time `json:"recorded_until"`
}

// write encodes, writes and verifies f's file and writes its manifest:
// all but the commit. It sets f.rng, and lets go of f's rows. spread
// runs the verification's column checks (see verify).
func (a *Archiver) write(ctx context.Context, f *fileJob, spread func([]func() error) error) error {
	rows := f.sortedRows()
	data, sum, err := encodeRows(rows, f.sum)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(data)
	r := domain.ArchivedRange{
		File: FileKey(dayOf(sum.RecordedFrom), sum.First, sum.Last), First: sum.First, Last: sum.Last,
		Events: sum.Events, Items: sum.Items, Bytes: int64(len(data)), SHA256: hex.EncodeToString(digest[:]),
		SchemaVersion: SchemaVersion, RecordedFrom: sum.RecordedFrom, RecordedUntil: sum.RecordedUntil,
	}
	if err := a.bucket.WriteAll(ctx, r.File, data); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if err := a.verify(ctx, r, rows, spread); err != nil {
		return err
	}
	m, err := json.MarshalIndent(manifestOf(r), "", "  ")
	if err != nil {
		return err
	}
	if err := a.bucket.WriteAll(ctx, ManifestKey(r.File), m); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	f.rng = r
	return nil
}

// ManifestKey is the key of the manifest of the file at key: beside it,
// named with a leading underscore, which Spark, Trino and Hive skip as
// hidden when they read a prefix of Parquet files.
func ManifestKey(key string) string {
	return path.Join(path.Dir(key), "_"+path.Base(key)+".manifest.json")
}

func manifestOf(r domain.ArchivedRange) Manifest {
	return Manifest{File: r.File, SchemaVersion: r.SchemaVersion, FirstPosition: r.First.String(), LastPosition: r.Last.String(),
		Events: r.Events, Items: r.Items, Bytes: r.Bytes, SHA256: r.SHA256, RecordedFrom: r.RecordedFrom.UTC(), RecordedUntil: r.RecordedUntil.UTC()}
}

// readVerified reads r's file and checks its schema version, size and
// checksum first.
func readVerified(ctx context.Context, b Bucket, r domain.ArchivedRange) ([]domain.RecordedEvent, error) {
	rows, err := readRows(ctx, b, r)
	if err != nil {
		return nil, err
	}
	events, err := eventsOf(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.File, err)
	}
	return events, nil
}

// readRows reads r's file's rows and checks its schema version, size and
// checksum first.
func readRows(ctx context.Context, b Bucket, r domain.ArchivedRange) ([]row, error) {
	data, err := readFile(ctx, b, r)
	if err != nil {
		return nil, err
	}
	return decodeRows(r.File, data)
}

// readFile reads r's file and checks its schema version, size and
// checksum.
func readFile(ctx context.Context, b Bucket, r domain.ArchivedRange) ([]byte, error) {
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s is of schema version %d, this fleetpulse reads version %d only (read it with a newer fleetpulse): %w",
			r.File, r.SchemaVersion, SchemaVersion, ErrUnknownSchemaVersion)
	}
	data, err := b.ReadAll(ctx, r.File)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(data)
	if int64(len(data)) != r.Bytes || hex.EncodeToString(digest[:]) != r.SHA256 {
		return nil, fmt.Errorf("%s: %d bytes of sha256 %x, the manifest says %d bytes of %s: %w",
			r.File, len(data), digest, r.Bytes, r.SHA256, ErrCorrupt)
	}
	return data, nil
}

// sameEvent reports how b differs from a, if it does: the event read back
// must be the one written, up to the JSON spelling of its data.
func sameEvent(a, b domain.RecordedEvent) error {
	if a.ID != b.ID || a.StreamID != b.StreamID || a.StreamVersion != b.StreamVersion || a.Type != b.Type ||
		a.Position != b.Position || !a.RecordedAt.Equal(b.RecordedAt) {
		return fmt.Errorf("event %s at %s read back as %s at %s: %w", a.ID, a.Position, b.ID, b.Position, ErrCorrupt)
	}
	ca, err := canonical(a)
	if err != nil {
		return err
	}
	cb, err := canonical(b)
	if err != nil {
		return err
	}
	if ca != cb {
		return fmt.Errorf("event %s at %s read back with other data: %w", a.ID, a.Position, ErrCorrupt)
	}
	return nil
}

// canonical is an event's data decoded and encoded again.
func canonical(r domain.RecordedEvent) (string, error) {
	e, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(e)
	return string(b), err
}
