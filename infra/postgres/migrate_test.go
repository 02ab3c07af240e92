package postgres_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// versions returns the goose version of every migration of set, by file
// name (Go migrations by "go:<version>").
func versions(t *testing.T, set postgres.MigrationSet) map[string]int64 {
	t.Helper()
	entries, err := fs.ReadDir(set.SQL, ".")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := goose.NumericComponent(e.Name())
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[e.Name()] = v
	}
	for _, m := range set.Go {
		out[fmt.Sprintf("go:%d", m.Version)] = m.Version
	}
	if len(out) == 0 {
		t.Fatal("no migrations in the set")
	}
	return out
}

func TestMigrations_EventStoreAndReadModelSetsNeverShareAVersion(t *testing.T) {
	events, models := versions(t, eventstore.Migrations()), versions(t, readmodel.Migrations())
	taken := map[int64]string{}
	for name, v := range events {
		taken[v] = name
	}
	for name, v := range models {
		if other, ok := taken[v]; ok {
			t.Errorf("version %d is both the event store's %s and the read models' %s", v, other, name)
		}
	}
}

// TestMigrations_KeepTheVersionsDatabasesWereMigratedTo pins the files a
// database migrated before the schema was split between the two packages
// has applied: renaming or renumbering one would make goose apply it again.
func TestMigrations_KeepTheVersionsDatabasesWereMigratedTo(t *testing.T) {
	for _, tt := range []struct {
		set  postgres.MigrationSet
		want map[string]int64
	}{
		{eventstore.Migrations(), map[string]int64{"00001_event_store.sql": 1}},
		{readmodel.Migrations(), map[string]int64{
			"00002_read_models.sql": 2, "00003_hourly.sql": 3, "00004_device_history.sql": 4,
			"00005_as_of.sql": 5, "00006_bucket_projections.sql": 6, "00007_alerts.sql": 7,
		}},
	} {
		got := versions(t, tt.set)
		for name, v := range tt.want {
			if got[name] != v {
				t.Errorf("%s: version %d, want it present at version %d", name, got[name], v)
			}
		}
	}
}

func TestMigrate_RefusesTwoSetsWithTheSameVersion(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	a := fstest.MapFS{"00008_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (x int);\n")}}
	b := fstest.MapFS{"00008_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b (x int);\n")}}
	err := postgres.Migrate(context.Background(), pool, quiet, eventstore.Migrations(), readmodel.Migrations(),
		postgres.MigrationSet{SQL: a}, postgres.MigrationSet{SQL: b})
	if err == nil || !strings.Contains(err.Error(), "share version 8") {
		t.Fatalf("got %v, want a refusal naming version 8", err)
	}
	var exists bool
	if err := pool.QueryRow(context.Background(), `SELECT to_regclass('a') IS NOT NULL OR to_regclass('b') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("a migration of a refused union was applied")
	}
}

func TestMigrate_AnUpToDateDatabaseIsLeftAsItIs(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t) // migrated with both sets
	ctx := context.Background()
	applied := func() (rows, newest int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT count(*), max(version_id) FROM goose_db_version`).Scan(&rows, &newest); err != nil {
			t.Fatal(err)
		}
		return rows, newest
	}
	var want int64
	for _, set := range []postgres.MigrationSet{eventstore.Migrations(), readmodel.Migrations()} {
		for _, v := range versions(t, set) {
			want = max(want, v)
		}
	}
	rowsBefore, newest := applied()
	if newest != want {
		t.Fatalf("newest version %d, want %d", newest, want)
	}
	if err := postgres.Migrate(ctx, pool, quiet, eventstore.Migrations(), readmodel.Migrations()); err != nil {
		t.Fatal(err)
	}
	if rowsAfter, _ := applied(); rowsAfter != rowsBefore {
		t.Fatalf("goose_db_version has %d rows after migrating again, had %d", rowsAfter, rowsBefore)
	}
}
