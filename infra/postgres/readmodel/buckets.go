package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
)

const bucketSpecsSQL = `SELECT name, width_seconds, zone FROM projection_buckets ORDER BY name`

// BucketSpecs returns the operator-defined bucket projections.
func (s *Writer) BucketSpecs(ctx context.Context) ([]projections.BucketSpec, error) {
	return BucketProjections(ctx, s.pool)
}

// BucketProjections lists the operator-defined bucket projections.
func BucketProjections(ctx context.Context, pool interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) ([]projections.BucketSpec, error) {
	rows, err := pool.Query(ctx, bucketSpecsSQL)
	if err != nil {
		return nil, postgres.Classify(err)
	}
	specs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.BucketSpec, error) {
		var (
			spec         projections.BucketSpec
			widthSeconds int
			zone         string
		)
		if err := row.Scan(&spec.Name, &widthSeconds, &zone); err != nil {
			return spec, err
		}
		spec.Width = time.Duration(widthSeconds) * time.Second
		if zone != "" {
			loc, err := domain.LoadZone(zone)
			if err != nil {
				return spec, fmt.Errorf("bucket projection %s: %w", spec.Name, err)
			}
			spec.Zone = loc
		}
		return spec, nil
	})
	return specs, postgres.Classify(err)
}

// AddBucketProjection defines a new bucket projection. It holds no data
// until a rebuild fills it from the log (fleetpulse projection add does).
func AddBucketProjection(ctx context.Context, pool *pgxpool.Pool, spec projections.BucketSpec, zone string) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: %w", domain.ErrInvalid, err)
	}
	if _, err := domain.LoadZone(zone); err != nil {
		return err
	}
	_, err := pool.Exec(ctx, `INSERT INTO projection_buckets (name, width_seconds, zone) VALUES ($1, $2, $3)`,
		spec.Name, int(spec.Width/time.Second), zone)
	if err != nil {
		return fmt.Errorf("add bucket projection %s: %w", spec.Name, postgres.Classify(err))
	}
	return nil
}

// RemoveBucketProjection drops a bucket projection and its rows.
func RemoveBucketProjection(ctx context.Context, pool *pgxpool.Pool, name string) error {
	return postgres.Classify(pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM projection_buckets WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("no bucket projection %q", name)
		}
		_, err = tx.Exec(ctx, `DELETE FROM rm_buckets WHERE projection = $1`, name)
		return err
	}))
}
