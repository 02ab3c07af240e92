package readmodel

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the goose migrations of the read models' tables (and the projections' checkpoints), for
// postgres.Migrate.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // fs.Sub fails only on an invalid path; "migrations" is valid
	}
	return sub
}
