package readmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/readapi"
)

const (
	readKeySQL  = `SELECT key_hash, devices, revoked_at IS NOT NULL FROM rm_read_keys WHERE key_id = $1`
	readKeysSQL = `SELECT key_id, name, devices, created_at, revoked_at FROM rm_read_keys ORDER BY created_at, key_id`
)

// ReadKey returns the read key created under id (readapi.KeyStore).
func (q *Queries) ReadKey(ctx context.Context, id string) (readapi.StoredKey, error) {
	var k readapi.StoredKey
	err := q.pool.QueryRow(ctx, readKeySQL, id).Scan(&k.Hash, &k.Devices, &k.Revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return readapi.StoredKey{}, fmt.Errorf("read key %q: %w", id, domain.ErrReadKeyNotFound)
	}
	if err != nil {
		return readapi.StoredKey{}, postgres.Classify(fmt.Errorf("read key %q: %w", id, err))
	}
	return k, nil
}

// ReadKeyInfo is what an operator sees of a read key: never its hash.
type ReadKeyInfo struct {
	ID        string
	Name      string
	Devices   []string // nil: every device
	CreatedAt time.Time
	RevokedAt *time.Time
}

// ReadKeys lists every projected read key, oldest first, for operators.
func ReadKeys(ctx context.Context, pool *pgxpool.Pool) ([]ReadKeyInfo, error) {
	rows, err := pool.Query(ctx, readKeysSQL)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("list read keys: %w", err))
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReadKeyInfo, error) {
		var k ReadKeyInfo
		err := row.Scan(&k.ID, &k.Name, &k.Devices, &k.CreatedAt, &k.RevokedAt)
		return k, err
	})
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("list read keys: %w", err))
	}
	return keys, nil
}
