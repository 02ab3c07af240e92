package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
)

// appendPhase is one way of appending events, as measured.
type appendPhase struct {
	Name         string  `json:"name"`
	Writers      int     `json:"writers"`
	EventsPerTx  int     `json:"events_per_call"`
	Events       int64   `json:"events"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	Errors       int64   `json:"errors"`
}

// appendFunc appends the events of one call; w is the calling writer.
type appendFunc func(ctx context.Context, w int, stream string, evs []domain.EventData) error

func runAppendBaseline(ctx context.Context, args []string) error {
	var (
		c           common
		adminURL    string
		concurrency int
		batch       int
		only        string
	)
	fs := flag.NewFlagSet("append-baseline", flag.ExitOnError)
	c.register(fs, 10*time.Second)
	fs.StringVar(&adminURL, "pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL server where a throwaway database is created and dropped (loopback only)")
	fs.IntVar(&concurrency, "concurrency", 16, "writers of the concurrent phases")
	fs.IntVar(&batch, "batch", 1000, "events per call of the batched phase")
	fs.StringVar(&only, "phases", "", "comma-separated phase numbers to run (default all: 1-6)")
	_ = fs.Parse(args)
	cfg, err := checkLoopbackPG("pg-url", adminURL)
	if err != nil {
		return err
	}
	// -duration bounds each phase; six phases plus set-up.
	ctx, done, err := c.start(ctx, 5*c.duration+time.Minute)
	if err != nil {
		return err
	}
	defer done()

	name, dbURL, drop, err := createThrowawayDB(ctx, cfg, adminURL)
	if err != nil {
		return err
	}
	defer drop()
	fmt.Fprintf(os.Stderr, "throwaway database %s\n", name)
	pool, err := postgres.Connect(ctx, dbURL, int32(concurrency+4))
	if err != nil {
		return err
	}
	defer pool.Close()
	// Appends need the event log's tables only.
	if err := postgres.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)), eventstore.Migrations()); err != nil {
		return err
	}
	store := eventstore.New(pool, eventstore.Config{Unbatched: true})
	defer store.Close()
	batcher := eventstore.New(pool, eventstore.Config{})
	defer batcher.Close()

	var rawVersion [256]int64
	insertSQL := `INSERT INTO events (event_id, stream_id, stream_version, event_type, data) VALUES ($1, $2, $3, $4, $5)`
	phases := []struct {
		name    string
		writers int
		per     int
		fn      appendFunc
	}{
		{"raw INSERT, one event per transaction (autocommit)", 1, 1, func(ctx context.Context, w int, _ string, evs []domain.EventData) error {
			rawVersion[w%256]++
			_, err := pool.Exec(ctx, insertSQL, evs[0].ID, "raw-"+strconv.Itoa(w), rawVersion[w%256], evs[0].Type, string(evs[0].Data))
			return err
		}},
		{"EventStore.Append, 1 event per transaction", 1, 1, appendThrough(store)},
		{"EventStore.Append, 1 event per transaction", concurrency, 1, appendThrough(store)},
		{"Batcher.Append (group commit), 1 event per call", concurrency, 1, appendThrough(batcher)},
		{"EventStore.Append, batched", 1, batch, appendThrough(store)},
		{"Batcher.Append (group commit), 100 events per call", concurrency, 100, appendThrough(batcher)},
	}
	want := map[int]bool{}
	for _, f := range strings.Split(only, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			want[n] = true
		}
	}
	var results []appendPhase
	for pi, p := range phases {
		if len(want) > 0 && !want[pi+1] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		r := appendPhase{Name: p.name, Writers: p.writers, EventsPerTx: p.per}
		r.run(ctx, c.duration, fmt.Sprintf("bench-%d-", pi), p.fn)
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "phase %d: %s x%d writers: %.0f events/s\n", pi+1, p.name, p.writers, r.EventsPerSec)
	}
	t := newTable("append baselines (throwaway database " + name + ")")
	t.row("#", "how", "writers", "events/call", "events/s", "errors")
	for i, r := range results {
		t.row(i+1, r.Name, r.Writers, r.EventsPerTx, r.EventsPerSec, r.Errors)
	}
	t.flush()
	return c.writeJSON(map[string]any{"mode": "append-baseline", "database": name, "phases": results})
}

// run has r.Writers writers call fn with r.EventsPerTx events for d, each
// call to one of 500 stations named stationPrefix<n>, and records the outcome.
func (r *appendPhase) run(ctx context.Context, d time.Duration, stationPrefix string, fn appendFunc) {
	var events, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range r.Writers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				station := stationPrefix + strconv.Itoa((w*7919+i)%500)
				if err := fn(ctx, w, domain.TelemetryStream(station), benchEvents(station, r.EventsPerTx)); err != nil {
					failed.Add(1)
					continue
				}
				events.Add(int64(r.EventsPerTx))
			}
		})
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Events, r.Errors = events.Load(), failed.Load()
	r.EventsPerSec = float64(r.Events) / r.Seconds
}

// appender is the event store or its batcher.
type appender interface {
	Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error)
}

func appendThrough(a appender) appendFunc {
	return func(ctx context.Context, _ int, stream string, evs []domain.EventData) error {
		_, err := a.Append(ctx, stream, domain.AnyVersion, evs)
		return err
	}
}

// benchEvents returns n measurement events of one station, each with a fresh id.
func benchEvents(station string, n int) []domain.EventData {
	now := time.Now().UTC()
	evs := make([]domain.EventData, n)
	for i := range evs {
		id := uuid.NewString()
		e := domain.MeasurementRecorded{StationID: station, MeasurementID: id, Type: "pm25", Value: float64(i % 100), MeasuredAt: now}
		d, err := domain.NewEventData(id, e)
		if err != nil {
			panic(err)
		}
		evs[i] = d
	}
	return evs
}

// createThrowawayDB creates fp_loadgen_<random> on the server of adminURL
// and returns its URL and a func that drops it.
func createThrowawayDB(ctx context.Context, cfg *pgx.ConnConfig, adminURL string) (string, string, func(), error) {
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", "", nil, err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	name := "fp_loadgen_" + hex.EncodeToString(buf)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", "", nil, err
	}
	dbURL := withDatabase(adminURL, name)
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, err := pgx.ConnectConfig(dctx, cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "drop %s: %v\n", name, err)
			return
		}
		defer a.Close(dctx)
		if _, err := a.Exec(dctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "drop %s: %v\n", name, err)
		}
	}
	return name, dbURL, drop, nil
}

// withDatabase swaps the database name in a connection string: a
// postgres:// URL, or keyword/value settings (-pg-url accepts both), where
// the last dbname given wins.
func withDatabase(u, name string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u + " dbname=" + name
	}
	q := ""
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest, q = rest[:i], rest[i:]
	}
	host := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host = rest[:i]
	}
	return scheme + "://" + host + "/" + name + q
}
