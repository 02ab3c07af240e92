package readmodel

import (
	"embed"
	"io/fs"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the goose migrations of the read models' tables (and the projections' checkpoints), for
// postgres.Migrate.
func Migrations() postgres.MigrationSet {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // fs.Sub fails only on an invalid path; "migrations" is valid
	}
	return postgres.MigrationSet{SQL: sub, Go: []postgres.GoMigration{
		{Version: convertRowTablesVersion, Up: convertRowTables},
	}}
}
