package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// The read API's queries (infra/postgres/readmodel/query_measurements.go), verbatim.
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
		days     dayFlags
		pgURL    string
		station  string
		typ      string
		runs     int
		explain  bool
		zoneName string
	)
	fs := flag.NewFlagSet("query-baseline", flag.ExitOnError)
	c.register(fs, 5*time.Minute)
	days.register(fs, "last day of the 365 (default: today, UTC)", "UTC day of raw points (default: yesterday)")
	fs.StringVar(&pgURL, "pg-url", os.Getenv("FLEETPULSE_PG_URL"), "the system's database (default $FLEETPULSE_PG_URL; loopback only)")
	fs.StringVar(&station, "station", "bench-year", "station (seed it first)")
	fs.StringVar(&typ, "type", "pm25", "measurement type")
	fs.IntVar(&runs, "runs", 50, "timed runs of each query")
	fs.BoolVar(&explain, "explain", false, "also print EXPLAIN (ANALYZE, BUFFERS) of each query")
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
	from, to, day, err := days.parse()
	if err != nil {
		return err
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
		rows, ds, err := timeQuery(ctx, conn, runs, q.sql, q.args)
		if err != nil {
			return fmt.Errorf("%s: %w", q.name, err)
		}
		s := summarize(ds)
		results = append(results, queryTiming{Name: q.name, Rows: rows, Runs: s.N, Median: s.P50, P99: s.P99, Max: s.Max})
		if explain {
			fmt.Printf("\n-- EXPLAIN (ANALYZE, BUFFERS): %s\n", q.name)
			if err := printPlan(ctx, conn, q.sql, q.args); err != nil {
				return err
			}
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

// timeQuery runs a query once to warm the cache, then times up to runs
// runs of it (fewer if ctx ends), reading every row.
func timeQuery(ctx context.Context, conn *pgx.Conn, runs int, sql string, args []any) (rows int, ds []time.Duration, err error) {
	for i := 0; i <= runs && ctx.Err() == nil; i++ {
		t0 := time.Now()
		rs, err := conn.Query(ctx, sql, args...)
		if err != nil {
			return 0, nil, err
		}
		rows = 0
		for rs.Next() {
			rows++
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return 0, nil, err
		}
		if i > 0 {
			ds = append(ds, time.Since(t0))
		}
	}
	return rows, ds, nil
}

// printPlan prints EXPLAIN (ANALYZE, BUFFERS) of a query.
func printPlan(ctx context.Context, conn *pgx.Conn, sql string, args []any) error {
	rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		fmt.Println(line)
	}
	return rows.Err()
}
