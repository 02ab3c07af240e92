package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

// openArchive returns the archive reader the PostgreSQL event store reads
// archived ranges through (nil when FLEETPULSE_ARCHIVE_URL is unset).
func openArchive(ctx context.Context, cfg config.Config) (eventstore.Archive, error) {
	if cfg.ArchiveURL == "" {
		return nil, nil
	}
	bucket, err := archive.OpenBucket(ctx, cfg.ArchiveURL)
	if err != nil {
		return nil, err
	}
	return archive.NewReader(bucket), nil
}

// ErrArchiveNeedsPostgres: only the PostgreSQL event store archives.
var ErrArchiveNeedsPostgres = errors.New("archiving needs the PostgreSQL event store (FLEETPULSE_EVENT_STORE=postgres)")

// ScheduledArchiveWorkers bounds the cores the projector's scheduled
// archive runs take (archive.Config.Workers): one, so that ingest and
// projection, on the same machine, keep the others. `fleetpulse archive`,
// run by hand, takes every core.
const ScheduledArchiveWorkers = 1

// ScheduledArchive is the archive.Config of the projector's scheduled
// runs: one worker, paced to FLEETPULSE_ARCHIVE_RATE, files of at most
// FLEETPULSE_ARCHIVE_FILE_ITEMS rows. One worker alone still takes a
// whole core while it runs, and the projector holds about two files'
// rows at once (one cut, one written).
func ScheduledArchive(cfg config.Config) archive.Config {
	return archive.Config{Horizon: cfg.ArchiveHorizon, Workers: ScheduledArchiveWorkers,
		Rate: float64(cfg.ArchiveRate), MaxItems: cfg.ArchiveFileItems}
}

// ManualArchive is the archive.Config of `fleetpulse archive`, run by
// hand: every core, unpaced, files of archive.DefaultMaxItems rows.
func ManualArchive(horizon time.Duration) archive.Config {
	return archive.Config{Horizon: horizon}
}

// NewArchiver returns the archiver of env's event log into
// FLEETPULSE_ARCHIVE_URL, up to the lowest checkpoint kept in env's
// PostgreSQL, as ac says (its Logger is set here).
func NewArchiver(ctx context.Context, cfg config.Config, env Env, ac archive.Config, logger *slog.Logger) (*archive.Archiver, error) {
	store, ok := env.Store.(*eventstore.Store)
	if !ok {
		return nil, ErrArchiveNeedsPostgres
	}
	if cfg.ArchiveURL == "" {
		return nil, errors.New("no archive is configured: set FLEETPULSE_ARCHIVE_URL")
	}
	bucket, err := archive.OpenBucket(ctx, cfg.ArchiveURL)
	if err != nil {
		return nil, err
	}
	lowest := func(ctx context.Context) (domain.Position, error) { return readmodel.LowestCheckpoint(ctx, env.Pool) }
	ac.Logger = logger
	return archive.NewArchiver(store, bucket, lowest, ac), nil
}

// runArchivePolicy archives every interval until ctx ends: the projector's
// schedule (FLEETPULSE_ARCHIVE_INTERVAL). A failed run is logged and tried
// again at the next tick; nothing it did half is lost (see archive.Run).
func runArchivePolicy(ctx context.Context, a *archive.Archiver, interval time.Duration, logger *slog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rep, err := a.Run(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			logger.Warn("archive run failed; trying again later", "err", err)
		case rep.Files > 0:
			logger.Info("archive run", "files", rep.Files, "events", rep.Events, "items", rep.Items, "bytes", rep.Bytes,
				"duration", rep.Duration.Round(time.Millisecond).String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ArchivedRanges lists what env's event log has archived (none for a store
// that cannot archive).
func ArchivedRanges(ctx context.Context, env Env) ([]domain.ArchivedRange, error) {
	store, ok := env.Store.(*eventstore.Store)
	if !ok {
		return nil, nil
	}
	rs, err := store.ArchivedRanges(ctx)
	if err != nil {
		return nil, fmt.Errorf("archived ranges: %w", err)
	}
	return rs, nil
}
