// Package pgtest gives integration tests a throwaway, migrated PostgreSQL
// database of their own, dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

// AdminURLEnv names the variable holding a URL of a server where tests may
// create databases; DefaultAdminURL is the local trust-auth server.
const (
	AdminURLEnv     = "FLEETPULSE_TEST_PG_URL"
	DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	// Prefix starts the name of every database tests create, so a crashed
	// run's leftovers can be found and dropped (scripts/test.sh does).
	Prefix = "fp_test_"
)

// AdminURL returns the URL tests create their databases through.
func AdminURL() string {
	if u := os.Getenv(AdminURLEnv); u != "" {
		return u
	}
	return DefaultAdminURL
}

// NewDatabase creates a fresh database with the whole schema migrated (the
// event store's and the read models') and returns a pool on it and its URL. The database is dropped when t ends.
func NewDatabase(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool, dbURL := NewEmptyDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)),
		eventstore.Migrations(), readmodel.Migrations()); err != nil {
		t.Fatalf("migrate %s: %v", dbURL, err)
	}
	return pool, dbURL
}

// NewEmptyDatabase creates a fresh database with no schema at all (to test
// migrations) and returns a pool on it and its URL. The database is dropped
// when t ends.
func NewEmptyDatabase(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cfg, err := pgx.ParseConfig(AdminURL())
	if err != nil {
		t.Fatalf("parse %s: %v", AdminURLEnv, err)
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to PostgreSQL at %s (run the tests through scripts/test.sh, which starts it): %v", cfg.Host, err)
	}
	defer admin.Close(ctx)

	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	name := Prefix + hex.EncodeToString(buf)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, name) })

	dbURL, err := withDatabase(AdminURL(), name)
	if err != nil {
		t.Fatal(err)
	}
	// The same pool settings as the services (postgres.Connect).
	pool, err := postgres.Connect(ctx, dbURL, 20)
	if err != nil {
		t.Fatalf("open pool on %s: %v", name, err)
	}
	t.Cleanup(pool.Close)
	return pool, dbURL
}

// withDatabase returns the URL u pointing at database name instead.
func withDatabase(u, name string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	parsed.Path = "/" + name
	return parsed.String(), nil
}

func dropDatabase(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Errorf("drop %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}
