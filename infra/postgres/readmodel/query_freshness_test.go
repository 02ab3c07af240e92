package readmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/projections"
)

// TestQueries_FreshnessIsTheReadModelProjectionsCheckpointTime: the zero
// time before anything was projected, then the time the read-model
// projection's checkpoint last moved (not another projection's), its
// slowest share's when it is partitioned, and
// domain.ErrUnavailable when the database cannot be reached.
func TestQueries_FreshnessIsTheReadModelProjectionsCheckpointTime(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	q := mustQueries(t, pool)
	ctx := context.Background()
	if at, err := q.Freshness(ctx); err != nil || !at.IsZero() {
		t.Errorf("nothing projected: Freshness = %v, %v; want the zero time", at, err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, updated_at) VALUES
		($1, '2026-06-01T11:59:58Z'), ('forwarder', '2026-06-01T12:00:00Z')`, projections.ReadModels); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 6, 1, 11, 59, 58, 0, time.UTC)
	if at, err := q.Freshness(ctx); err != nil || !at.Equal(want) {
		t.Errorf("Freshness = %v, %v; want %v", at, err, want)
	}
	// Partitioned: the slowest share's time, whichever share that is (a
	// rebuild's shadow checkpoints do not count).
	if _, err := pool.Exec(ctx, `DELETE FROM projection_checkpoints WHERE name = $1;`, projections.ReadModels); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, updated_at) VALUES
		('read_models/share-0-of-3', '2026-06-01T12:00:05Z'), ('read_models/share-1-of-3', '2026-06-01T12:00:01Z'),
		('read_models/share-2-of-3', '2026-06-01T12:00:09Z'), ('read_models_rebuild/share-0-of-3', '2026-06-01T11:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_shares (projection, shares) VALUES ($1, 3)`, projections.ReadModels); err != nil {
		t.Fatal(err)
	}
	want = time.Date(2026, 6, 1, 12, 0, 1, 0, time.UTC)
	if at, err := q.Freshness(ctx); err != nil || !at.Equal(want) {
		t.Errorf("three shares: Freshness = %v, %v; want the slowest share's %v", at, err, want)
	}
	// A share that never started holds everything back.
	if _, err := pool.Exec(ctx, `UPDATE projection_shares SET shares = 4 WHERE projection = $1`, projections.ReadModels); err != nil {
		t.Fatal(err)
	}
	if at, err := q.Freshness(ctx); err != nil || !at.IsZero() {
		t.Errorf("four shares, one never started: Freshness = %v, %v; want the zero time", at, err)
	}

	gone, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gone.Close)
	_, err = mustQueries(t, gone).Freshness(ctx)
	assertIs(t, "Freshness", err, domain.ErrUnavailable)
}
