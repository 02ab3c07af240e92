// Package eventstore is fleetpulse's event store on PostgreSQL: the
// append-only log of every device's events (migration 00001 owns its
// tables), with group commit for appends, ordered reads for projectors, a
// LISTEN/NOTIFY wake-up for readers waiting at the head, and a health check.
// One Store serves the command side (commands.EventStore, and the optional
// ItemFinder) and the projections (EventLog, Waiter), with Head and Ping,
// as infra/esdb's Store does; Backlog, optional too, counts what a reader
// has yet to read (fleetpulse status and rebuild).
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

// notifyChannel is the LISTEN/NOTIFY channel that wakes log readers: one
// notification per appending transaction.
const notifyChannel = "fleetpulse_events"

const (
	// findItemSQL finds the event holding a telemetry item: an event of the
	// first log format has the item's key as its id; a batch is searched for
	// the item's id (a scan of the device's stream: corrections are rare).
	findItemSQL = `
SELECT event_id::text, stream_id, stream_version, event_type, data::text, tx_id, position, recorded_at
FROM events
WHERE stream_id = $1 AND (event_id = $2::uuid
   OR (event_type = 'MeasurementsRecorded' AND jsonb_path_exists(data, '$.measurements[*] ? (@.id == $id)', jsonb_build_object('id', $3::text)))
   OR (event_type = 'VehicleEventsRecorded' AND jsonb_path_exists(data, '$.events[*] ? (@.eid == $id)', jsonb_build_object('id', $3::text))))
ORDER BY stream_version
LIMIT 1`

	readStreamSQL = `
SELECT event_id::text, stream_id, stream_version, event_type, data::text, tx_id, position, recorded_at
FROM events WHERE stream_id = $1 ORDER BY stream_version`

	// readAfterSQL reads the log in (tx_id, position) order, only rows of
	// transactions older than every running one: later commits of earlier
	// transactions can then never appear behind a reader's checkpoint.
	// The page is chosen in a subquery and its data turned into text only
	// outside it (see pageColumns).
	readAfterSQL = `
SELECT ` + pageColumns + `
FROM (SELECT ` + pageSource + `
      FROM events
      WHERE (tx_id, position) > ($1, $2)
        AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
      ORDER BY tx_id, position
      LIMIT $3) page
ORDER BY tx_id, position`

	// pageColumns are a page's columns as readers scan them, computed from
	// pageSource's in an outer query. When PostgreSQL expects few rows (a
	// table not analysed since a burst of appends) it sorts the matching
	// rows rather than walking the log-order index, and it evaluates the
	// select list before it sorts: data::text, 30 KB of JSON for a batch
	// of vehicle samples, for every row after the position, not only the
	// page's. Each page then costs as much as the whole rest of the log (a
	// 1,800-event backlog: 550 ms a page of 100 instead of 44).
	pageColumns = `event_id::text, stream_id, stream_version, event_type, data::text, tx_id, position, recorded_at`
	pageSource  = `event_id, stream_id, stream_version, event_type, data, tx_id, position, recorded_at`

	// headSQL finds the last committed event; readers reach it once every
	// transaction that began before it has ended.
	headSQL = `SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1`

	// backlogSQL counts what follows a position and how long the oldest
	// of it has been in the log.
	backlogSQL = `
SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0)
FROM events WHERE (tx_id, position) > ($1, $2)`
)

// defaultPollInterval is FLEETPULSE_POLL_INTERVAL's default.
const defaultPollInterval = 250 * time.Millisecond

// Config tunes a Store.
type Config struct {
	// PollInterval is the longest Wait waits when no notification comes
	// (default 250ms): a lost notification costs readers at most this.
	PollInterval time.Duration
	// Batcher tunes group commit.
	Batcher BatcherConfig
	// Unbatched writes each Append in a transaction of its own, without
	// group commit (Batcher is then unused): what group commit is measured
	// against, and tests that need one transaction per call.
	Unbatched bool
	// DedupHorizon is how long a telemetry item's key is kept after it was
	// recorded (default 7 days, DefaultDedupHorizon): within it a repeated
	// item id is a duplicate. Keys are dropped a whole partition at a time,
	// ItemKeyPartitionWidth(DedupHorizon) wide (a day from 2 days up).
	DedupHorizon time.Duration
	// Clock tells the time an item is recorded at (default time.Now).
	Clock func() time.Time
	// Logger reports partitions made and dropped (default: discarded).
	Logger *slog.Logger
	// Archive reads the telemetry events archived out of the log (nil:
	// none is configured; reading an archived stretch then fails with
	// ErrNoArchive).
	Archive Archive
}

// DefaultDedupHorizon is FLEETPULSE_DEDUP_HORIZON's default.
const DefaultDedupHorizon = 7 * 24 * time.Hour

// Store is the PostgreSQL event store. Appends from concurrent callers share
// transactions (group commit); the first Wait starts listening for appends.
// It is safe for concurrent use; Close it before closing the pool.
type Store struct {
	pool     *pgxpool.Pool
	batcher  *batcher // nil when Unbatched
	waiter   *waiter
	clock    func() time.Time
	itemKeys *itemKeyPartitions
	// firstFormat says whether item events of the first log format may be
	// in the log (they are looked for among event ids then).
	firstFormat firstFormat
	archive     Archive
}

// New returns a store on pool, whose schema has Migrations applied.
func New(pool *pgxpool.Pool, cfg Config) *Store {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.DedupHorizon <= 0 {
		cfg.DedupHorizon = DefaultDedupHorizon
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, waiter: newWaiter(pool, cfg.PollInterval), clock: cfg.Clock,
		itemKeys: newItemKeyPartitions(pool, cfg.DedupHorizon, cfg.Logger), archive: cfg.Archive}
	if !cfg.Unbatched {
		s.batcher = newBatcher(s, cfg.Batcher)
	}
	return s
}

// Close writes the appends still queued, then stops listening. Appends
// after Close are written one transaction each.
func (s *Store) Close() {
	if s.batcher != nil {
		s.batcher.close()
	}
	s.waiter.close()
}

// Ping checks that PostgreSQL answers: the store's readiness.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Append stores events at the end of stream (see commands.EventStore), in a
// transaction it shares with concurrent appends (see batcher.append) unless
// the store is Unbatched.
func (s *Store) Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error) {
	s.firstFormat.appended(events)
	return s.submit(ctx, newAppendRequest(stream, expectedVersion, events))
}

// AppendTelemetry stores a device's batch of telemetry items as one event
// of the items not stored within the de-duplication horizon (see
// commands.EventStore), sharing transactions as Append does.
func (s *Store) AppendTelemetry(ctx context.Context, stream, eventID string, batch domain.TelemetryBatch) (domain.AppendResult, error) {
	return s.submit(ctx, newTelemetryRequest(stream, eventID, batch))
}

// Wait returns when an append may have committed, after the polling
// interval, or when ctx ends. See projections.Waiter.
func (s *Store) Wait(ctx context.Context) { s.waiter.wait(ctx) }

// FindTelemetryItem returns the event holding a device's telemetry item
// (see commands.ItemFinder), whatever its age: it searches the device's
// stream, then the archive.
func (s *Store) FindTelemetryItem(ctx context.Context, stream, itemID, key string) (domain.RecordedEvent, bool, error) {
	rows, err := s.pool.Query(ctx, findItemSQL, stream, key, itemID)
	if err != nil {
		return domain.RecordedEvent{}, false, postgres.Classify(fmt.Errorf("find item %s: %w", itemID, err))
	}
	evs, err := pgx.CollectRows(rows, scanRecorded)
	if err != nil {
		return domain.RecordedEvent{}, false, postgres.Classify(fmt.Errorf("find item %s: %w", itemID, err))
	}
	if len(evs) == 0 {
		return s.findArchivedItem(ctx, stream, itemID)
	}
	return evs[0], true, nil
}

// ExpireItemKeys drops the partitions of item keys that ended more than the
// de-duplication horizon before now, and returns their names; the store
// also does it by itself whenever it moves on to a new partition.
func (s *Store) ExpireItemKeys(ctx context.Context, now time.Time) ([]string, error) {
	return s.itemKeys.dropExpired(ctx, now)
}

// ReadStream returns a stream's events in order.
func (s *Store) ReadStream(ctx context.Context, stream string) ([]domain.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, readStreamSQL, stream)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read stream %s: %w", stream, err))
	}
	evs, err := pgx.CollectRows(rows, scanRecorded)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read stream %s: %w", stream, err))
	}
	return evs, nil
}

// ReadAfter returns up to max events that follow after in log order,
// archived ones included (see Archive).
func (s *Store) ReadAfter(ctx context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	return s.readAfter(ctx, after, max)
}

// Head returns the position of the last committed event, archived or not
// (domain.Start for an empty log).
func (s *Store) Head(ctx context.Context) (domain.Position, error) {
	var commit, prepare int64
	head := domain.Start
	err := s.pool.QueryRow(ctx, headSQL).Scan(&commit, &prepare)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return domain.Position{}, postgres.Classify(fmt.Errorf("read log head: %w", err))
	default:
		head = domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
	}
	last, _, err := lastArchived(ctx, s.pool)
	if err != nil {
		return domain.Position{}, postgres.Classify(fmt.Errorf("read log head: %w", err))
	}
	if head.Less(last) {
		head = last
	}
	return head, nil
}

func scanRecorded(row pgx.CollectableRow) (domain.RecordedEvent, error) {
	var (
		r       domain.RecordedEvent
		data    string
		commit  int64
		prepare int64
	)
	if err := row.Scan(&r.ID, &r.StreamID, &r.StreamVersion, &r.Type, &data, &commit, &prepare, &r.RecordedAt); err != nil {
		return r, err
	}
	r.Data = []byte(data)
	r.Position = domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
	return r, nil
}

// Backlog returns how many events follow after in the log, archived ones
// included, and how long the oldest of them has been there (0 when none
// do): how far a reader checkpointed at after is behind.
func (s *Store) Backlog(ctx context.Context, after domain.Position) (int64, time.Duration, error) {
	var (
		events      int64
		waitSeconds float64
	)
	if err := s.pool.QueryRow(ctx, backlogSQL, int64(after.Commit), int64(after.Prepare)).Scan(&events, &waitSeconds); err != nil {
		return 0, 0, postgres.Classify(fmt.Errorf("count the log after %s: %w", after, err))
	}
	wait := time.Duration(waitSeconds * float64(time.Second))
	archived, archivedWait, err := s.archivedAfter(ctx, after)
	if err != nil {
		return 0, 0, err
	}
	return events + archived, max(wait, archivedWait), nil
}
