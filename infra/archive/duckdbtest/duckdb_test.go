//go:build cgo

package duckdbtest

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/infra/archive/archivetest"
)

// dailyQuery is docs/archive.md's per-device, per-day query over the
// archive: each measurement and each vehicle reading, by its device's
// local day (zones as the read models know them, here passed in as a
// table of the devices' zones).
const dailyQuery = `
WITH items AS (
    SELECT device_id, type AS name, measured_at AS measured, value
    FROM read_parquet($1, hive_partitioning = true) WHERE kind = 'measurement'
    UNION ALL
    SELECT device_id, r.key AS name, measured_at AS measured, r.value
    FROM read_parquet($1, hive_partitioning = true), UNNEST(map_entries(readings)) AS u(r)
    WHERE kind = 'vehicle_event'
)
SELECT device_id, name, CAST(timezone(z.zone, measured) AS DATE)::VARCHAR AS day, count(*), sum(value), min(value), max(value)
FROM items JOIN zones z USING (device_id)
GROUP BY ALL ORDER BY 1, 2, 3`

type daily struct {
	device, name, day string
	count             int64
	sum, min, max     float64
}

func TestDuckDB_DailyAggregatesFromTheArchiveEqualRmDaily(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := archivetest.NewEnv(t)
	e.Seed(t, 4, 2, 10, 12)
	e.Project(t)
	head, err := e.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := archive.NewArchiver(e.Store, e.Bucket(t), archivetest.At(head), archive.Config{MaxItems: 300}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files < 2 {
		t.Fatalf("archived %+v, want several files", rep)
	}

	var want []daily
	rows, err := e.Pool.Query(ctx, `SELECT device_id, name, day::text, count, sum, min, max FROM rm_daily ORDER BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d daily
		if err := rows.Scan(&d.device, &d.name, &d.day, &d.count, &d.sum, &d.min, &d.max); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE zones (device_id VARCHAR, zone VARCHAR)`); err != nil {
		t.Fatal(err)
	}
	for _, z := range e.Query(t, `SELECT device_id || '|' || coalesce(nullif(timezone, ''), 'UTC') FROM rm_devices`) {
		var id, zone string
		if _, err := fmt.Sscanf(replacePipe(z), "%s %s", &id, &zone); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO zones VALUES (?, ?)`, id, zone); err != nil {
			t.Fatal(err)
		}
	}
	got := []daily{}
	drows, err := db.QueryContext(ctx, dailyQuery, e.Dir+"/**/*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	defer drows.Close()
	for drows.Next() {
		var d daily
		if err := drows.Scan(&d.device, &d.name, &d.day, &d.count, &d.sum, &d.min, &d.max); err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	if drows.Err() != nil {
		t.Fatal(drows.Err())
	}
	devices := map[string]bool{}
	for _, w := range want {
		devices[w.device] = true
	}
	if len(devices) != 6 {
		t.Fatalf("rm_daily holds days of %d devices, want all 4 stations and 2 vehicles", len(devices))
	}
	if len(got) != len(want) {
		t.Fatalf("DuckDB gives %d daily rows, rm_daily holds %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		// Sums are added in another order: equal up to the last bits.
		if g.device != w.device || g.name != w.name || g.day != w.day || g.count != w.count || g.min != w.min || g.max != w.max ||
			math.Abs(g.sum-w.sum) > 1e-9*math.Max(1, math.Abs(w.sum)) {
			t.Fatalf("row %d: DuckDB %+v, rm_daily %+v", i, g, w)
		}
	}
}

func replacePipe(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '|' {
			b[i] = ' '
		}
	}
	return string(b)
}
