package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
)

// Archive is the part of the log moved out of PostgreSQL into archive files
// (infra/archive's Reader). The store reads its event_archive rows and its
// remaining events in one snapshot and asks the archive only for what those
// rows name, so an event is read from exactly one of the two.
type Archive interface {
	// Read returns up to max archived events that follow after, in log
	// order, from the files of ranges (in log order, not overlapping).
	Read(ctx context.Context, ranges []domain.ArchivedRange, after domain.Position, max int) ([]domain.RecordedEvent, error)
	// FindTelemetryItem returns the archived event of stream that holds
	// telemetry item itemID (see commands.ItemFinder).
	FindTelemetryItem(ctx context.Context, ranges []domain.ArchivedRange, stream, itemID string) (domain.RecordedEvent, bool, error)
}

// ErrNoArchive means the log has archived ranges that a reader needs, and
// no archive was configured to read them from.
var ErrNoArchive = errors.New("the log has archived ranges but no archive is configured (FLEETPULSE_ARCHIVE_URL)")

// ErrArchiveConflict means an archive file was not committed: another
// archiver moved some of its events first, or it does not start after the
// last archived range.
var ErrArchiveConflict = errors.New("archive range conflicts with what is archived")

// telemetryTypes are the event types the archive holds: both formats of
// station measurements and vehicle events. Every other event stays.
var telemetryTypes = []string{domain.TypeMeasurementsRecorded, domain.TypeVehicleEventsRecorded,
	domain.TypeMeasurementRecorded, domain.TypeVehicleEventRecorded}

// archiveLockID serialises archive commits.
const archiveLockID = 0x66_70_61_72 // "fpar"

const (
	archiveColumns = `file, first_commit, first_prepare, last_commit, last_prepare, events, items, bytes, sha256,
schema_version, recorded_from, recorded_until, archived_at`

	lastArchivedSQL = `SELECT last_commit, last_prepare FROM event_archive ORDER BY last_commit DESC, last_prepare DESC LIMIT 1`

	archivedRangesSQL = `SELECT ` + archiveColumns + ` FROM event_archive ORDER BY first_commit, first_prepare`

	// firstYoungSQL finds the first event in a stretch of the log recorded
	// at or after the horizon: archiving stops before it, so files never
	// interleave with events left behind. It looks only at the stretch a
	// page of candidates spans: a search from the last archived event to
	// the first young one would read every event still to archive, for
	// every page.
	firstYoungSQL = `
SELECT tx_id, position FROM events
WHERE (tx_id, position) > ($1, $2) AND (tx_id, position) <= ($3, $4) AND recorded_at >= $5
ORDER BY tx_id, position LIMIT 1`

	archiveCandidatesSQL = `
SELECT ` + pageColumns + `
FROM (SELECT ` + pageSource + `
      FROM events
      WHERE (tx_id, position) > ($1, $2) AND (tx_id, position) <= ($3, $4)
        AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
        AND event_type = ANY($5)
      ORDER BY tx_id, position
      LIMIT $6) page
ORDER BY tx_id, position`

	insertArchiveSQL = `INSERT INTO event_archive (` + archiveColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now())`

	deleteArchivedSQL = `DELETE FROM events WHERE position = ANY($1) AND event_type = ANY($2)`

	// readAfterUntilSQL is readAfterSQL bounded above: the events left in
	// PostgreSQL inside the archived stretch.
	readAfterUntilSQL = `
SELECT ` + pageColumns + `
FROM (SELECT ` + pageSource + `
      FROM events
      WHERE (tx_id, position) > ($1, $2) AND (tx_id, position) <= ($3, $4)
      ORDER BY tx_id, position
      LIMIT $5) page
ORDER BY tx_id, position`
)

// ArchiveCandidates returns up to max telemetry events that may be archived
// next, in log order: after the last archived range (and after after, for
// a caller reading them page by page), at or before upTo (the lowest
// checkpoint of every reader), before the first event recorded at or after
// before (the horizon), and sealed (no transaction that began before them
// is still running).
func (s *Store) ArchiveCandidates(ctx context.Context, before time.Time, upTo, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	var evs []domain.RecordedEvent
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		last, _, err := lastArchived(ctx, tx)
		if err != nil {
			return err
		}
		from := last
		if last.Less(after) {
			from = after
		}
		rows, err := tx.Query(ctx, archiveCandidatesSQL, int64(from.Commit), int64(from.Prepare),
			int64(upTo.Commit), int64(upTo.Prepare), telemetryTypes, max)
		if err != nil {
			return err
		}
		if evs, err = pgx.CollectRows(rows, scanRecorded); err != nil || len(evs) == 0 {
			return err
		}
		// Cut the page before the first young event of the stretch it
		// spans. Earlier pages ended before this one, and an event old
		// for their horizon is old for this one too.
		end := evs[len(evs)-1].Position
		var c, p int64
		err = tx.QueryRow(ctx, firstYoungSQL, int64(from.Commit), int64(from.Prepare), int64(end.Commit), int64(end.Prepare), before).Scan(&c, &p)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("find the horizon in the log: %w", err)
		}
		young := domain.Position{Commit: uint64(c), Prepare: uint64(p)}
		n := 0
		for n < len(evs) && evs[n].Position.Less(young) {
			n++
		}
		evs = evs[:n]
		return nil
	})
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("find events to archive: %w", err))
	}
	return evs, nil
}

// CommitArchive records r and deletes its events (at positions) from the
// log in one transaction. It fails with ErrArchiveConflict, changing
// nothing, when r does not start after the last archived range or when
// any of the events is no longer in the log.
func (s *Store) CommitArchive(ctx context.Context, r domain.ArchivedRange, positions []int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, archiveLockID); err != nil {
			return err
		}
		last, ok, err := lastArchived(ctx, tx)
		if err != nil {
			return err
		}
		if ok && !last.Less(r.First) {
			return fmt.Errorf("%s starts at %s, not after the last archived event %s: %w", r.File, r.First, last, ErrArchiveConflict)
		}
		if _, err := tx.Exec(ctx, insertArchiveSQL, r.File, int64(r.First.Commit), int64(r.First.Prepare),
			int64(r.Last.Commit), int64(r.Last.Prepare), r.Events, r.Items, r.Bytes, r.SHA256, r.SchemaVersion,
			r.RecordedFrom, r.RecordedUntil); err != nil {
			return fmt.Errorf("record %s: %w", r.File, err)
		}
		tag, err := tx.Exec(ctx, deleteArchivedSQL, positions, telemetryTypes)
		if err != nil {
			return fmt.Errorf("delete the events of %s: %w", r.File, err)
		}
		if tag.RowsAffected() != int64(len(positions)) {
			return fmt.Errorf("%s: %d of its %d events are in the log: %w", r.File, tag.RowsAffected(), len(positions), ErrArchiveConflict)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrArchiveConflict) {
		return postgres.Classify(fmt.Errorf("commit archive file: %w", err))
	}
	return err
}

// ArchivedRanges returns every archived range in log order.
func (s *Store) ArchivedRanges(ctx context.Context) ([]domain.ArchivedRange, error) {
	rs, err := archivedRanges(ctx, s.pool)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read archived ranges: %w", err))
	}
	return rs, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func archivedRanges(ctx context.Context, q querier) ([]domain.ArchivedRange, error) {
	rows, err := q.Query(ctx, archivedRangesSQL)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.ArchivedRange, error) {
		var (
			r              domain.ArchivedRange
			fc, fp, lc, lp int64
		)
		err := row.Scan(&r.File, &fc, &fp, &lc, &lp, &r.Events, &r.Items, &r.Bytes, &r.SHA256, &r.SchemaVersion,
			&r.RecordedFrom, &r.RecordedUntil, &r.ArchivedAt)
		r.First = domain.Position{Commit: uint64(fc), Prepare: uint64(fp)}
		r.Last = domain.Position{Commit: uint64(lc), Prepare: uint64(lp)}
		return r, err
	})
}

// lastArchived returns the last archived position, if any.
func lastArchived(ctx context.Context, q querier) (domain.Position, bool, error) {
	var c, p int64
	err := q.QueryRow(ctx, lastArchivedSQL).Scan(&c, &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Start, false, nil
	}
	if err != nil {
		return domain.Start, false, fmt.Errorf("read the last archived position: %w", err)
	}
	return domain.Position{Commit: uint64(c), Prepare: uint64(p)}, true, nil
}

// readAfterOrLastArchivedSQL is readAfterSQL with one more row, marked
// by its last column, holding the last archived position: one statement,
// so one snapshot, and one round trip for a reader past the archive.
const readAfterOrLastArchivedSQL = `
(SELECT ` + pageColumns + `, false
 FROM (SELECT ` + pageSource + `
       FROM events
       WHERE (tx_id, position) > ($1, $2)
         AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
       ORDER BY tx_id, position
       LIMIT $3) page
 ORDER BY tx_id, position)
UNION ALL
(SELECT NULL, NULL, NULL, NULL, NULL, last_commit, last_prepare, NULL, true
 FROM event_archive ORDER BY last_commit DESC, last_prepare DESC LIMIT 1)`

// readAfter reads the log after a position, archived events included: the
// archive's rows and the events still here come from one snapshot.
func (s *Store) readAfter(ctx context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	// Past the archive (the live readers): one statement.
	rows, err := s.pool.Query(ctx, readAfterOrLastArchivedSQL, int64(after.Commit), int64(after.Prepare), max)
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read log after %s: %w", after, err))
	}
	var (
		evs      []domain.RecordedEvent
		archived domain.Position
	)
	for rows.Next() {
		var (
			id, stream, typ, data *string
			version               *int64
			commit, prepare       int64
			recordedAt            *time.Time
			marker                bool
		)
		if err := rows.Scan(&id, &stream, &version, &typ, &data, &commit, &prepare, &recordedAt, &marker); err != nil {
			rows.Close()
			return nil, postgres.Classify(fmt.Errorf("read log after %s: %w", after, err))
		}
		pos := domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
		if marker {
			archived = pos
			continue
		}
		evs = append(evs, domain.RecordedEvent{ID: *id, StreamID: *stream, StreamVersion: *version, Type: *typ,
			Data: []byte(*data), Position: pos, RecordedAt: *recordedAt})
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Classify(fmt.Errorf("read log after %s: %w", after, err))
	}
	if !after.Less(archived) {
		return evs, nil
	}
	return s.readArchived(ctx, after, max)
}

// readArchived reads the log after a position inside the archived stretch:
// the archive's rows and the events still here come from one snapshot.
func (s *Store) readArchived(ctx context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	var (
		ranges []domain.ArchivedRange
		here   []domain.RecordedEvent
		inArch bool
	)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		last, ok, err := lastArchived(ctx, tx)
		if err != nil {
			return err
		}
		var rows pgx.Rows
		if ok && after.Less(last) {
			// Inside the archived stretch: what is left here of it (events
			// other than telemetry), merged with the archive's below.
			inArch = true
			if ranges, err = archivedRanges(ctx, tx); err != nil {
				return err
			}
			rows, err = tx.Query(ctx, readAfterUntilSQL, int64(after.Commit), int64(after.Prepare), int64(last.Commit), int64(last.Prepare), max)
		} else {
			rows, err = tx.Query(ctx, readAfterSQL, int64(after.Commit), int64(after.Prepare), max)
		}
		if err != nil {
			return err
		}
		here, err = pgx.CollectRows(rows, scanRecorded)
		return err
	})
	if err != nil {
		return nil, postgres.Classify(fmt.Errorf("read log after %s: %w", after, err))
	}
	if !inArch {
		return here, nil
	}
	if s.archive == nil {
		return nil, fmt.Errorf("read log after %s: %w", after, ErrNoArchive)
	}
	archived, err := s.archive.Read(ctx, ranges, after, max)
	if err != nil {
		return nil, fmt.Errorf("read log after %s: %w", after, err)
	}
	return mergeLog(archived, here, max), nil
}

// mergeLog merges two runs of the log, each in order, into the first max
// events of both.
func mergeLog(a, b []domain.RecordedEvent, max int) []domain.RecordedEvent {
	out := make([]domain.RecordedEvent, 0, min(max, len(a)+len(b)))
	for len(out) < max && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || (len(a) > 0 && a[0].Position.Less(b[0].Position)) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// findArchivedItem looks for a telemetry item in the archive.
func (s *Store) findArchivedItem(ctx context.Context, stream, itemID string) (domain.RecordedEvent, bool, error) {
	ranges, err := s.ArchivedRanges(ctx)
	if err != nil || len(ranges) == 0 {
		return domain.RecordedEvent{}, false, err
	}
	if s.archive == nil {
		return domain.RecordedEvent{}, false, fmt.Errorf("find item %s: %w", itemID, ErrNoArchive)
	}
	return s.archive.FindTelemetryItem(ctx, ranges, stream, itemID)
}

// archivedAfter counts the archived events after a position (those of a
// range it falls inside are counted whole) and the oldest one's age.
func (s *Store) archivedAfter(ctx context.Context, after domain.Position) (int64, time.Duration, error) {
	ranges, err := s.ArchivedRanges(ctx)
	if err != nil {
		return 0, 0, err
	}
	var (
		n      int64
		oldest time.Time
	)
	for _, r := range ranges {
		if after.Less(r.Last) {
			n += r.Events
			if oldest.IsZero() {
				oldest = r.RecordedFrom
			}
		}
	}
	if n == 0 {
		return 0, 0, nil
	}
	return n, s.clock().Sub(oldest), nil
}
