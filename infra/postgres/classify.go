package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Classify marks errors that mean "PostgreSQL is not there right now" as
// domain.ErrUnavailable, so the APIs answer 503 instead of 500.
func Classify(err error) error {
	if err == nil || errors.Is(err, domain.ErrVersionConflict) || errors.Is(err, domain.ErrInvalid) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57": // connection, resources, operator intervention (shutdown)
			return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
		}
		switch pgErr.Code {
		// A hot standby cancels a query that conflicts with the WAL it
		// replays (rows vacuumed away on the primary, a lock): the same
		// query succeeds when retried.
		case "40001", "40P01": // serialization failure, deadlock detected
			return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
		}
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isConnectError(err) {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return err
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
