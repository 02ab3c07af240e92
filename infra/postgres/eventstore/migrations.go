package eventstore

import (
	"embed"
	"io/fs"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the goose migrations of the event log's tables, for
// postgres.Migrate.
func Migrations() postgres.MigrationSet {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // fs.Sub fails only on an invalid path; "migrations" is valid
	}
	return postgres.MigrationSet{SQL: sub}
}
