package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// --- append-baseline -----------------------------------------------------------

type appendPhase struct {
	Name         string  `json:"name"`
	Writers      int     `json:"writers"`
	EventsPerTx  int     `json:"events_per_call"`
	Events       int64   `json:"events"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	Errors       int64   `json:"errors"`
}

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

	type phase struct {
		name    string
		writers int
		per     int
		fn      func(ctx context.Context, w int, stream string, evs []domain.EventData) error
	}
	var rawVersion [256]int64
	insertSQL := `INSERT INTO events (event_id, stream_id, stream_version, event_type, data) VALUES ($1, $2, $3, $4, $5)`
	phases := []phase{
		{"raw INSERT, one event per transaction (autocommit)", 1, 1, func(ctx context.Context, w int, _ string, evs []domain.EventData) error {
			rawVersion[w%256]++
			_, err := pool.Exec(ctx, insertSQL, evs[0].ID, "raw-"+strconv.Itoa(w), rawVersion[w%256], evs[0].Type, string(evs[0].Data))
			return err
		}},
		{"EventStore.Append, 1 event per transaction", 1, 1, storeAppend(store)},
		{"EventStore.Append, 1 event per transaction", concurrency, 1, storeAppend(store)},
		{"Batcher.Append (group commit), 1 event per call", concurrency, 1, storeAppend(batcher)},
		{"EventStore.Append, batched", 1, batch, storeAppend(store)},
		{"Batcher.Append (group commit), 100 events per call", concurrency, 100, storeAppend(batcher)},
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
		var events, errs atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(c.duration)
		for w := 0; w < p.writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
					station := fmt.Sprintf("bench-%d-%d", pi, (w*7919+i)%500)
					evs := benchEvents(station, p.per)
					if err := p.fn(ctx, w, domain.TelemetryStream(station), evs); err != nil {
						errs.Add(1)
						continue
					}
					events.Add(int64(p.per))
				}
			}(w)
		}
		wg.Wait()
		r.Seconds = time.Since(start).Seconds()
		r.Events, r.Errors = events.Load(), errs.Load()
		r.EventsPerSec = float64(r.Events) / r.Seconds
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

// storeAppend makes a phase's step of appending through s: a transaction
// per call (an Unbatched store) or group commit.
func storeAppend(s *eventstore.Store) func(context.Context, int, string, []domain.EventData) error {
	return func(ctx context.Context, _ int, stream string, evs []domain.EventData) error {
		_, err := s.Append(ctx, stream, domain.AnyVersion, evs)
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

// withDatabase swaps the database name in a postgres:// URL.
func withDatabase(u, name string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
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

// --- query-baseline --------------------------------------------------------------

const (
	// The read API's queries (readapi/queries.go), verbatim.
	dailyViewSQL = `
SELECT day, count, sum, min, max FROM rm_daily
WHERE device_id = $1 AND name = $2 AND day >= $3 AND day <= $4
ORDER BY day`
	rawPointsSQL = `
SELECT measured_at, value FROM rm_measurements
WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4
ORDER BY measured_at, measurement_id
LIMIT $5`
	// The same 365 days computed from raw rows at query time.
	rawDailySQL = `
SELECT (measured_at AT TIME ZONE $5)::date AS day, count(*), sum(value), min(value), max(value)
FROM rm_measurements
WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4
GROUP BY 1 ORDER BY 1`
)

type queryTiming struct {
	Name   string  `json:"name"`
	Rows   int     `json:"rows"`
	Runs   int     `json:"runs"`
	Median float64 `json:"median_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

func runQueryBaseline(ctx context.Context, args []string) error {
	var (
		c        common
		pgURL    string
		station  string
		typ      string
		runs     int
		explain  bool
		toFlag   string
		dayFlag  string
		zoneName string
	)
	fs := flag.NewFlagSet("query-baseline", flag.ExitOnError)
	c.register(fs, 5*time.Minute)
	fs.StringVar(&pgURL, "pg-url", os.Getenv("FLEETPULSE_PG_URL"), "the system's database (default $FLEETPULSE_PG_URL; loopback only)")
	fs.StringVar(&station, "station", "bench-year", "station (seed it first)")
	fs.StringVar(&typ, "type", "pm25", "measurement type")
	fs.IntVar(&runs, "runs", 50, "timed runs of each query")
	fs.BoolVar(&explain, "explain", false, "also print EXPLAIN (ANALYZE, BUFFERS) of each query")
	fs.StringVar(&toFlag, "to", "", "last day of the 365 (default: today, UTC)")
	fs.StringVar(&dayFlag, "day", "", "UTC day of raw points (default: yesterday)")
	_ = fs.Parse(args)
	if pgURL == "" {
		return errors.New("-pg-url is required")
	}
	cfg, err := checkLoopbackPG("pg-url", pgURL)
	if err != nil {
		return err
	}
	if runs < 1 {
		return errors.New("-runs must be positive")
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	to, day := today, today.AddDate(0, 0, -1)
	if toFlag != "" {
		if to, err = time.Parse(time.DateOnly, toFlag); err != nil {
			return err
		}
	}
	if dayFlag != "" {
		if day, err = time.Parse(time.DateOnly, dayFlag); err != nil {
			return err
		}
	}
	ctx, done, err := c.start(ctx, 0)
	if err != nil {
		return err
	}
	defer done()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, `SELECT timezone FROM rm_devices WHERE device_id = $1`, station).Scan(&zoneName); err != nil {
		return fmt.Errorf("station %s in rm_devices: %w", station, err)
	}
	if zoneName == "" {
		zoneName = "UTC"
	}
	zone, err := time.LoadLocation(zoneName)
	if err != nil {
		return err
	}
	from := to.AddDate(0, 0, -364)
	fromInstant := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, zone)
	toInstant := time.Date(to.Year(), to.Month(), to.Day()+1, 0, 0, 0, 0, zone)
	queries := []struct {
		name string
		sql  string
		args []any
	}{
		{"365 days from the daily read model (rm_daily)", dailyViewSQL, []any{station, typ, from, to}},
		{"365 days computed from raw rows (GROUP BY over rm_measurements)", rawDailySQL, []any{station, typ, fromInstant, toInstant, zoneName}},
		{"1 day of raw points (rm_measurements)", rawPointsSQL, []any{station, typ, day, day.Add(24 * time.Hour), 100001}},
	}
	var results []queryTiming
	for _, q := range queries {
		r := queryTiming{Name: q.name}
		var ds []time.Duration
		for i := 0; i <= runs && ctx.Err() == nil; i++ { // run 0 warms the cache
			t0 := time.Now()
			rows, err := conn.Query(ctx, q.sql, q.args...)
			if err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			if i > 0 {
				ds = append(ds, time.Since(t0))
			}
			r.Rows = n
		}
		s := summarize(ds)
		r.Runs, r.Median, r.P99, r.Max = s.N, s.P50, s.P99, s.Max
		results = append(results, r)
		if explain {
			fmt.Printf("\n-- EXPLAIN (ANALYZE, BUFFERS): %s\n", q.name)
			rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q.sql, q.args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					return err
				}
				fmt.Println(line)
			}
			rows.Close()
		}
	}
	t := newTable(fmt.Sprintf("query baselines: station %s (%s), type %s, %d runs each, one connection", station, zoneName, typ, runs))
	t.row("query", "rows", "median ms", "p99 ms", "max ms")
	for _, r := range results {
		t.row(r.Name, r.Rows, r.Median, r.P99, r.Max)
	}
	t.flush()
	return c.writeJSON(map[string]any{"mode": "query-baseline", "station": station, "zone": zoneName, "queries": results})
}
