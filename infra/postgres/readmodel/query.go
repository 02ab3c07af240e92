package readmodel

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// Queries answers the read API's questions (readapi.Store) from the live
// read-model tables: the SQL the read API runs, and the scanning of its
// rows into the read API's types, live in the query*.go files. Every query
// filters by device and series and walks an index in order.
type Queries struct {
	pool  *pgxpool.Pool
	codec *rawchunk.Codec

	retainedMu sync.Mutex
	retained   [2]time.Time // RawRetainedFrom's last answer
	retainedAt time.Time
}

var _ readapi.Store = (*Queries)(nil)

// NewQueries returns the read API's store over a pool whose schema has
// Migrations applied.
func NewQueries(pool *pgxpool.Pool) (*Queries, error) {
	codec, err := rawchunk.New()
	if err != nil {
		return nil, err
	}
	return &Queries{pool: pool, codec: codec}, nil
}

// Ping says whether PostgreSQL answers. Its error is left as pgx words it:
// the readiness answer shows it.
func (q *Queries) Ping(ctx context.Context) error { return q.pool.Ping(ctx) }

// each runs sql, scans each row into dest and calls fn after each; what
// names the query in errors, which come back classified.
func (q *Queries) each(ctx context.Context, what, sql string, args []any, dest []any, fn func() error) error {
	rows, err := q.pool.Query(ctx, sql, args...)
	if err != nil {
		return postgres.Classify(fmt.Errorf("%s: %w", what, err))
	}
	if _, err := pgx.ForEachRow(rows, dest, fn); err != nil {
		return postgres.Classify(fmt.Errorf("%s: %w", what, err))
	}
	return nil
}
