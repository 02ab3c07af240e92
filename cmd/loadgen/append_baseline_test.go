package main

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestWithDatabase_PointsEitherFormOfConnectionStringAtTheThrowawayDatabase(t *testing.T) {
	tests := []struct{ name, admin string }{
		{"URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"},
		{"URL without a database", "postgresql://postgres@localhost:5433"},
		{"URL with two hosts", "postgres://postgres@127.0.0.1:5432,127.0.0.2:5432/postgres?sslmode=disable"},
		{"keyword/value", "host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable"},
		{"keyword/value without a database", "host=/var/run/postgresql user=postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin, err := pgx.ParseConfig(tt.admin)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.ParseConfig(withDatabase(tt.admin, "fp_loadgen_0123"))
			if err != nil {
				t.Fatalf("withDatabase(%q): %v", tt.admin, err)
			}
			if got.Database != "fp_loadgen_0123" {
				t.Fatalf("database %q, want fp_loadgen_0123", got.Database)
			}
			if got.Host != admin.Host || got.Port != admin.Port || got.User != admin.User || len(got.Fallbacks) != len(admin.Fallbacks) {
				t.Fatalf("server %s:%d as %s (+%d), want %s:%d as %s (+%d)", got.Host, got.Port, got.User, len(got.Fallbacks),
					admin.Host, admin.Port, admin.User, len(admin.Fallbacks))
			}
		})
	}
}
