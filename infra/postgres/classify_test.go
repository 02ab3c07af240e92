package postgres_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

// TestClassify_WhatARetryCanCureIsUnavailable: errors a retry of the same
// statement can cure (the server away or shutting down, a hot standby
// cancelling a query that conflicts with replay, a deadlock) become
// domain.ErrUnavailable, a 503; anything else stays what it was, a 500.
func TestClassify_WhatARetryCanCureIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		code, message string
		unavailable   bool
	}{
		{"08006", "connection failure", true},
		{"57P01", "terminating connection due to administrator command", true},
		{"53300", "too many connections for role", true},
		{"40001", "canceling statement due to conflict with recovery", true},
		{"40P01", "deadlock detected", true},
		{"42P01", `relation "rm_devices" does not exist`, false},
		{"23505", "duplicate key value violates unique constraint", false},
	} {
		err := postgres.Classify(fmt.Errorf("read devices: %w", &pgconn.PgError{Code: c.code, Message: c.message}))
		if got := errors.Is(err, domain.ErrUnavailable); got != c.unavailable {
			t.Errorf("SQLSTATE %s (%s): unavailable = %v, want %v", c.code, c.message, got, c.unavailable)
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != c.code {
			t.Errorf("SQLSTATE %s: the classified error lost the PostgreSQL error: %v", c.code, err)
		}
	}
}
