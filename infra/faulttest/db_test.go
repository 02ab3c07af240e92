package faulttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

// position is a place in the log: (transaction id, position), the order
// projectors read in and the form of their checkpoint.
type position struct{ tx, pos int64 }

func (p position) String() string { return fmt.Sprintf("(%d,%d)", p.tx, p.pos) }

// logHead is the last event of the log in reading order.
func logHead(t *testing.T, pool *pgxpool.Pool) position {
	t.Helper()
	var h position
	err := pool.QueryRow(context.Background(), `SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1`).Scan(&h.tx, &h.pos)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("read log head: %v", err)
	}
	return h
}

// checkpoint is where the read-model projection stands and how many events
// it has applied in all.
func checkpoint(t *testing.T, pool *pgxpool.Pool) (position, int64) {
	t.Helper()
	var (
		c      position
		events int64
	)
	err := pool.QueryRow(context.Background(), `SELECT commit_pos, prepare_pos, events FROM projection_checkpoints WHERE name = $1`,
		projections.ReadModels).Scan(&c.tx, &c.pos, &events)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("read checkpoint: %v", err)
	}
	return c, events
}

// waitCaughtUp polls until the projection's checkpoint is the log's head,
// failing if the projector exits or within passes first.
func waitCaughtUp(t *testing.T, pool *pgxpool.Pool, p *process, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		head := logHead(t, pool)
		cp, _ := checkpoint(t, pool)
		if cp == head {
			return
		}
		if !p.running() {
			t.Fatalf("projector exited with %v at checkpoint %v, head %v; its log ends:\n%s", p.state, cp, head, p.logTail(10))
		}
		if time.Now().After(deadline) {
			t.Fatalf("projector did not catch up within %s: checkpoint %v, head %v", within, cp, head)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// readModelTables lists the live read-model tables (rm_*, not a rebuild's
// shadow tables, nor the partitions of a partitioned one), so a table
// added later is compared too. rm_retention is left out: it says what
// maintenance last kept, not what the log projects to; so are the live
// push journal and its floor (rm_live_*): they record each commit, keyed by
// where its batch ended, so they depend on how the log was batched.
func readModelTables(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname LIKE 'rm\_%' AND c.relname NOT LIKE '%\_rebuild' AND c.relname <> 'rm_retention'
  AND c.relname NOT LIKE 'rm\_live\_%'
ORDER BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 5 {
		t.Fatalf("found read-model tables %v; the schema is not migrated", names)
	}
	return names
}

// snapshot is a copy of every read-model table, taken into tables named
// <label>_<table> of the same database.
type snapshot struct {
	label  string
	tables []string
	rows   map[string]int
}

// chunkTables are the raw read models stored as chunks: two projections of
// one log cut them differently (and number them differently), so they are
// compared by the items they hold, one row per item.
var chunkTables = map[string][]string{
	"rm_measurement_chunks":   {"device_id text", "type text", "measured_at timestamptz", "value float8", "id text", "recorded_at timestamptz"},
	"rm_vehicle_event_chunks": {"device_id text", "eid text", "type text", "occurred_at timestamptz", "readings jsonb", "lat float8", "lon float8", "located bool", "data jsonb", "recorded_at timestamptz"},
}

func takeSnapshot(t *testing.T, pool *pgxpool.Pool, label string) snapshot {
	t.Helper()
	s := snapshot{label: label, tables: readModelTables(t, pool), rows: map[string]int{}}
	ctx := context.Background()
	for _, table := range s.tables {
		copyName := pgx.Identifier{label + "_" + table}.Sanitize()
		if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+copyName); err != nil {
			t.Fatal(err)
		}
		if columns, ok := chunkTables[table]; ok {
			if _, err := pool.Exec(ctx, `CREATE TABLE `+copyName+` (`+strings.Join(columns, ", ")+`)`); err != nil {
				t.Fatalf("snapshot %s: %v", table, err)
			}
			copyItems(t, pool, table, label+"_"+table, columns)
		} else if _, err := pool.Exec(ctx, `CREATE TABLE `+copyName+` AS TABLE `+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		s.rows[table] = count(t, pool, `SELECT count(*) FROM `+copyName)
	}
	return s
}

// copyItems writes the items of a chunk table into table into, one row each.
func copyItems(t *testing.T, pool *pgxpool.Pool, table, into string, columns []string) {
	t.Helper()
	ctx := context.Background()
	w, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	switch table {
	case "rm_measurement_chunks":
		err = w.EachRawMeasurement(ctx, func(m readmodel.RawMeasurement) error {
			rows = append(rows, []any{m.DeviceID, m.Type, m.MeasuredAt, m.Value, m.ID, m.RecordedAt})
			return nil
		})
	case "rm_vehicle_event_chunks":
		err = w.EachRawVehicleEvent(ctx, func(e readmodel.RawVehicleEvent) error {
			var readings, data any
			if e.Readings != nil {
				b, err := json.Marshal(e.Readings)
				if err != nil {
					return err
				}
				readings = string(b)
			}
			if e.Data != nil {
				data = string(e.Data)
			}
			rows = append(rows, []any{e.DeviceID, e.EID, e.Type, e.OccurredAt, readings, e.Lat, e.Lon, e.HasLocation, data, e.RecordedAt})
			return nil
		})
	}
	if err != nil {
		t.Fatalf("read the items of %s: %v", table, err)
	}
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i], _, _ = strings.Cut(c, " ")
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{into}, names, pgx.CopyFromRows(rows)); err != nil {
		t.Fatalf("copy the items of %s: %v", table, err)
	}
}

// comparableColumns is the select list that compares rows of table:
// floating-point columns are rounded, because sums added in another batch
// order may differ in their last bits.
func comparableColumns(t *testing.T, pool *pgxpool.Pool, table string) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ Name, Type string }
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[column])
	if err != nil {
		t.Fatal(err)
	}
	exprs := make([]string, len(cols))
	for i, c := range cols {
		id := pgx.Identifier{c.Name}.Sanitize()
		switch c.Type {
		case "double precision", "real":
			exprs[i] = "round(" + id + "::numeric, 6) AS " + id
		default:
			exprs[i] = id
		}
	}
	return strings.Join(exprs, ", ")
}

// sameReadModels fails the test unless both snapshots hold the same rows in
// every table, naming the tables that differ with a few differing rows.
func sameReadModels(t *testing.T, pool *pgxpool.Pool, got, want snapshot) {
	t.Helper()
	if !slices.Equal(got.tables, want.tables) {
		t.Fatalf("read-model tables differ: %s has %v, %s has %v", got.label, got.tables, want.label, want.tables)
	}
	var problems []string
	for _, table := range got.tables {
		cols := comparableColumns(t, pool, got.label+"_"+table) // chunk tables are copied as items
		a := pgx.Identifier{got.label + "_" + table}.Sanitize()
		b := pgx.Identifier{want.label + "_" + table}.Sanitize()
		onlyIn := func(x, y string) (int, []string) {
			rows, err := pool.Query(context.Background(), fmt.Sprintf(
				`SELECT d::text FROM (SELECT %[1]s FROM %[2]s EXCEPT ALL SELECT %[1]s FROM %[3]s) d`, cols, x, y))
			if err != nil {
				t.Fatalf("compare %s: %v", table, err)
			}
			diff, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("compare %s: %v", table, err)
			}
			return len(diff), diff[:min(3, len(diff))]
		}
		nGot, sampleGot := onlyIn(a, b)
		nWant, sampleWant := onlyIn(b, a)
		if nGot+nWant > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d rows in %s (of %d), %d rows in %s (of %d) differ; only in %s: %v; only in %s: %v",
				table, nGot, got.label, got.rows[table], nWant, want.label, want.rows[table], got.label, sampleGot, want.label, sampleWant))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("read models differ from %s:\n%s", want.label, strings.Join(problems, "\n"))
	}
}

// resetReadModels empties every read model and the checkpoints: the next
// projector run is a fresh projection of the whole log.
func resetReadModels(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	tables := append(readModelTables(t, pool), "projection_checkpoints")
	for i, name := range tables {
		tables[i] = pgx.Identifier{name}.Sanitize()
	}
	if _, err := pool.Exec(context.Background(), `TRUNCATE `+strings.Join(tables, ", ")); err != nil {
		t.Fatalf("truncate read models: %v", err)
	}
}

// readModelsMatchTheLog checks the read models against SQL over the log
// itself, independent of the projector: one raw row per recorded
// measurement and vehicle event, and each station's daily aggregates
// computed with PostgreSQL's own time-zone rules.
func readModelsMatchTheLog(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for _, c := range []struct{ what, logSQL, modelSQL string }{
		{"measurements", `SELECT count(*) FROM measurement_items`, `SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks`},
		{"vehicle events", `SELECT count(*) FROM vehicle_event_items`, `SELECT coalesce(sum(events), 0) FROM rm_vehicle_event_chunks`},
		{"devices", `SELECT count(*) FROM events WHERE event_type IN ('StationRegistered', 'VehicleRegistered')`, `SELECT count(*) FROM rm_devices`},
	} {
		if inLog, inModel := count(t, pool, c.logSQL), count(t, pool, c.modelSQL); inLog != inModel {
			t.Errorf("%s: %d in the log, %d in the read model", c.what, inLog, inModel)
		}
	}
	diff := count(t, pool, `
WITH m AS (
    SELECT device_id, type AS name, measured_at AS at, value AS v FROM measurement_items
), oracle AS (
    SELECT m.device_id, m.name, (m.at AT TIME ZONE coalesce(nullif(d.timezone, ''), 'UTC'))::date AS day,
           count(*) AS count, round(sum(v)::numeric, 6) AS sum, round(min(v)::numeric, 6) AS min, round(max(v)::numeric, 6) AS max
    FROM m JOIN rm_devices d USING (device_id)
    GROUP BY 1, 2, 3
), model AS (
    SELECT device_id, name, day, count, round(sum::numeric, 6), round(min::numeric, 6), round(max::numeric, 6)
    FROM rm_daily WHERE device_id IN (SELECT device_id FROM rm_devices WHERE kind = 'station')
)
SELECT count(*) FROM ((TABLE oracle EXCEPT TABLE model) UNION ALL (TABLE model EXCEPT TABLE oracle)) d`)
	if diff != 0 {
		t.Errorf("daily aggregates: %d rows differ from the same aggregates computed from the log in SQL", diff)
	}
}

// measurementIDs returns how many times each (station, client id) of a
// measurement is in the log.
func measurementIDs(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
SELECT device_id || '/' || measurement_id, count(*)::int FROM measurement_items GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var (
		key string
		n   int
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &n}, func() error {
		out[key] = n
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// appliedExactlyUpToTheCheckpoint checks, with no projector running, that the
// read models hold every event up to the checkpoint once and nothing beyond
// it: rows and checkpoint were committed together, whatever moment the
// projector died at. Everything is read in one statement, one snapshot: a
// killed projector's COMMIT may still be landing. It returns the checkpoint
// and its event count.
func appliedExactlyUpToTheCheckpoint(t *testing.T, pool *pgxpool.Pool) (position, int64) {
	t.Helper()
	var (
		cp                         position
		applied, inLog, logM, logV int64
		rawM, dailyM, rawV         int64
	)
	err := pool.QueryRow(context.Background(), `
WITH cp AS (
    SELECT coalesce(max(commit_pos), 0) AS c, coalesce(max(prepare_pos), 0) AS p, coalesce(max(events), 0) AS n
    FROM projection_checkpoints WHERE name = $1
), upto AS (
    SELECT (SELECT count(*) FROM events, cp WHERE (tx_id, position) <= (cp.c, cp.p)) AS n,
           (SELECT count(*) FROM measurement_items, cp WHERE (tx_id, position) <= (cp.c, cp.p)) AS m,
           (SELECT count(*) FROM vehicle_event_items, cp WHERE (tx_id, position) <= (cp.c, cp.p)) AS v
)
SELECT cp.c, cp.p, cp.n, upto.n, upto.m, upto.v,
       (SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks),
       (SELECT coalesce(sum(count), 0) FROM rm_daily WHERE device_id IN (SELECT device_id FROM rm_devices WHERE kind = 'station')),
       (SELECT coalesce(sum(events), 0) FROM rm_vehicle_event_chunks)
FROM cp, upto`, projections.ReadModels).Scan(&cp.tx, &cp.pos, &applied, &inLog, &logM, &logV, &rawM, &dailyM, &rawV)
	if err != nil {
		t.Fatalf("compare the read models with the log up to the checkpoint: %v", err)
	}
	for _, c := range []struct {
		what           string
		inModel, inLog int64
	}{
		{"events counted by the checkpoint", applied, inLog},
		{"raw measurements", rawM, logM},
		{"measurements in daily aggregates", dailyM, logM},
		{"raw vehicle events", rawV, logV},
	} {
		if c.inModel != c.inLog {
			t.Errorf("at checkpoint %v: %s = %d, but the log holds %d up to the checkpoint", cp, c.what, c.inModel, c.inLog)
		}
	}
	return cp, applied
}
