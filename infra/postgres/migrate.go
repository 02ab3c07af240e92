package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrate brings the schema to the newest version of the union of sets:
// each set holds goose SQL migrations at its root (the event store's and the
// read models' own, e.g.), and together they form ONE version sequence in one
// goose_db_version table, so a database migrated before the sets were split
// is up to date as it is. Two sets holding the same version are refused.
// Concurrent callers wait for each other on an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, sets ...fs.FS) error {
	all, err := unionOf(sets)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, all,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	results, err := provider.Up(ctx)
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
	owner   map[string]fs.FS // file name -> the set holding it
	entries []fs.DirEntry    // in name order
}

func unionOf(sets []fs.FS) (*union, error) {
	if len(sets) == 0 {
		return nil, errors.New("no migration sets")
	}
	u := &union{owner: map[string]fs.FS{}}
	byVersion := map[int64]string{}
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
