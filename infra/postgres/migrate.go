package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// MigrationSet is the migrations of one owner of tables (the event store,
// the read models): goose SQL files at the root of SQL, and migrations
// written in Go for what SQL cannot do.
type MigrationSet struct {
	SQL fs.FS
	Go  []GoMigration
}

// GoMigration is a migration written in Go. Up runs in one transaction on a
// connection of the pool; goose records the version once it returns.
type GoMigration struct {
	Version int64
	Up      func(ctx context.Context, tx pgx.Tx) error
}

// Migrate brings the schema to the newest version of the union of sets:
// together they form ONE version sequence in one goose_db_version table, so
// a database migrated before the sets were split is up to date as it is.
// Two migrations of the same version are refused. Concurrent callers wait
// for each other on an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, sets ...MigrationSet) error {
	return MigrateTo(ctx, pool, logger, -1, sets...)
}

// MigrateTo is Migrate up to and including version (all of them when
// version is negative): to stop an upgrade at a known version, or to test
// a migration against a database as an older version left it.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, version int64, sets ...MigrationSet) error {
	fss := make([]fs.FS, 0, len(sets))
	var goMigrations []*goose.Migration
	for _, set := range sets {
		if set.SQL != nil {
			fss = append(fss, set.SQL)
		}
		for _, m := range set.Go {
			up := m.Up
			goMigrations = append(goMigrations, goose.NewGoMigration(m.Version, &goose.GoFunc{
				RunDB: func(ctx context.Context, _ *sql.DB) error {
					return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return up(ctx, tx) })
				},
			}, nil))
		}
	}
	all, err := unionOf(fss)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	for _, m := range goMigrations {
		if name, taken := all.versions[m.Version]; taken {
			return fmt.Errorf("prepare migrations: migration %s and a Go migration share version %d", name, m.Version)
		}
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, all,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(goMigrations...))
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	var results []*goose.MigrationResult
	if version < 0 {
		results, err = provider.Up(ctx)
	} else {
		results, err = provider.UpTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		logger.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// union is one flat directory of migration files gathered from several
// sets: what goose reads (fs.Glob lists it through ReadDir, then each file
// is opened by name).
type union struct {
	owner    map[string]fs.FS // file name -> the set holding it
	entries  []fs.DirEntry    // in name order
	versions map[int64]string // version -> file name
}

func unionOf(sets []fs.FS) (*union, error) {
	if len(sets) == 0 {
		return nil, errors.New("no migration sets")
	}
	u := &union{owner: map[string]fs.FS{}, versions: map[int64]string{}}
	byVersion := u.versions
	for _, set := range sets {
		entries, err := fs.ReadDir(set, ".")
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
				continue
			}
			version, err := goose.NumericComponent(e.Name())
			if err != nil {
				return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
			}
			if other, taken := byVersion[version]; taken {
				return nil, fmt.Errorf("migrations %s and %s share version %d", other, e.Name(), version)
			}
			byVersion[version] = e.Name()
			u.owner[e.Name()] = set
			u.entries = append(u.entries, e)
		}
	}
	slices.SortFunc(u.entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return u, nil
}

// Open opens a migration file by name.
func (u *union) Open(name string) (fs.File, error) {
	set, ok := u.owner[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return set.Open(name)
}

// ReadDir lists the files of every set; the union has no subdirectories.
func (u *union) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(u.entries), nil
}
