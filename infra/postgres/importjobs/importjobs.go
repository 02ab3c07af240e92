// Package importjobs keeps bulk import jobs in PostgreSQL: each job's row
// (state, progress, the first rejections, the lease of the process running
// it) and its uploaded body in chunks, so that an accepted upload survives
// a restart and a job resumes where its last runner committed. It is the
// importer.JobQueue of the command API's import runner. The tables come
// with the event store's migrations (00040_import_jobs.sql).
package importjobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/importer"
)

// ChunkBytes is the size of the pieces an upload is stored in.
const ChunkBytes = 1 << 20

const (
	insertJobSQL = `
INSERT INTO import_jobs (id, format, state, body_bytes) VALUES ($1, $2, 'queued', $3)`
	insertChunkSQL = `INSERT INTO import_job_chunks (job_id, seq, data) VALUES ($1, $2, $3)`
	setSizeSQL     = `UPDATE import_jobs SET body_bytes = $2 WHERE id = $1`
	jobColumns     = `id, format, state, body_bytes, rows, accepted, duplicates, rejected, next_line, rejections,
       failure, attempts, created_at, updated_at, finished_at`
	getJobSQL = `SELECT ` + jobColumns + ` FROM import_jobs WHERE id = $1`
	// claimSQL takes the oldest queued job, or a running one whose runner
	// stopped renewing its lease; SKIP LOCKED lets runners claim at once.
	claimSQL = `
UPDATE import_jobs SET state = 'running', owner = $1, lease_until = now() + $2::interval,
       attempts = attempts + 1, updated_at = now()
WHERE id = (
    SELECT id FROM import_jobs
    WHERE state = 'queued' OR (state = 'running' AND lease_until < now())
    ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING ` + jobColumns
	chunkSQL  = `SELECT data FROM import_job_chunks WHERE job_id = $1 AND seq = $2`
	commitSQL = `
UPDATE import_jobs SET rows = $3, accepted = $4, duplicates = $5, rejected = $6, next_line = $7, rejections = $8,
       lease_until = now() + $9::interval, updated_at = now()
WHERE id = $1 AND owner = $2 AND state = 'running'`
	finishSQL = `
UPDATE import_jobs SET rows = $3, accepted = $4, duplicates = $5, rejected = $6, next_line = $7, rejections = $8,
       state = $9, failure = $10, lease_until = NULL, updated_at = now(), finished_at = now()
WHERE id = $1 AND owner = $2 AND state = 'running'`
	dropBodySQL = `DELETE FROM import_job_chunks WHERE job_id = $1`
	releaseSQL  = `
UPDATE import_jobs SET state = 'queued', owner = '', lease_until = NULL, updated_at = now()
WHERE id = $1 AND owner = $2 AND state = 'running'`
)

// Store is the job queue on a PostgreSQL pool.
type Store struct{ pool *pgxpool.Pool }

// New returns the job queue on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Create stores an uploaded body, read to its end, and queues its job, in
// one transaction: a body that cannot be read to its end (too large, the
// client went away) leaves nothing behind.
func (s *Store) Create(ctx context.Context, format importer.Format, body io.Reader) (importer.Job, error) {
	id := uuid.Must(uuid.NewV7()).String()
	var size int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertJobSQL, id, string(format), 0); err != nil {
			return fmt.Errorf("create import job: %w", err)
		}
		buf := make([]byte, ChunkBytes)
		for seq := 0; ; seq++ {
			n, err := io.ReadFull(body, buf)
			if n > 0 {
				if _, err := tx.Exec(ctx, insertChunkSQL, id, seq, buf[:n]); err != nil {
					return fmt.Errorf("store import body: %w", err)
				}
				size += int64(n)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, setSizeSQL, id, size)
		return err
	})
	if err != nil {
		return importer.Job{}, err
	}
	return s.Get(ctx, id)
}

// Get returns a job, importer.ErrJobNotFound when there is none.
func (s *Store) Get(ctx context.Context, id string) (importer.Job, error) {
	job, err := scanJob(s.pool.QueryRow(ctx, getJobSQL, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return importer.Job{}, fmt.Errorf("%w: %q", importer.ErrJobNotFound, id)
	}
	return job, err
}

// Claim implements importer.JobQueue.
func (s *Store) Claim(ctx context.Context, lease time.Duration) (importer.Job, string, bool, error) {
	owner := uuid.NewString()
	job, err := scanJob(s.pool.QueryRow(ctx, claimSQL, owner, lease))
	if errors.Is(err, pgx.ErrNoRows) {
		return importer.Job{}, "", false, nil
	}
	if err != nil {
		return importer.Job{}, "", false, fmt.Errorf("claim import job: %w", err)
	}
	return job, owner, true, nil
}

// Body implements importer.JobQueue: it reads one chunk at a time.
func (s *Store) Body(ctx context.Context, id string) io.Reader {
	return &chunkReader{ctx: ctx, pool: s.pool, id: id}
}

// Commit implements importer.JobQueue.
func (s *Store) Commit(ctx context.Context, id, owner string, p importer.Progress, lease time.Duration) error {
	return s.update(ctx, commitSQL, id, owner, p, lease)
}

// Finish implements importer.JobQueue.
func (s *Store) Finish(ctx context.Context, id, owner string, p importer.Progress, state, failure string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := update(ctx, tx, finishSQL, id, owner, p, state, failure); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, dropBodySQL, id)
		return err
	})
}

// Release implements importer.JobQueue.
func (s *Store) Release(ctx context.Context, id, owner string) error {
	_, err := s.pool.Exec(ctx, releaseSQL, id, owner)
	return err
}

func (s *Store) update(ctx context.Context, sql, id, owner string, p importer.Progress, extra ...any) error {
	return update(ctx, s.pool, sql, id, owner, p, extra...)
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func update(ctx context.Context, db execer, sql, id, owner string, p importer.Progress, extra ...any) error {
	rejections, err := json.Marshal(nonNil(p.Rejections))
	if err != nil {
		return err
	}
	args := append([]any{id, owner, p.Rows, p.Accepted, p.Duplicates, p.Rejected, p.NextLine, rejections}, extra...)
	tag, err := db.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("update import job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("import job %s: %w", id, importer.ErrLeaseLost)
	}
	return nil
}

func nonNil(rs []importer.Rejection) []importer.Rejection {
	if rs == nil {
		return []importer.Rejection{}
	}
	return rs
}

func scanJob(row pgx.Row) (importer.Job, error) {
	var (
		j          importer.Job
		format     string
		rejections []byte
	)
	err := row.Scan(&j.ID, &format, &j.State, &j.BodyBytes, &j.Rows, &j.Accepted, &j.Duplicates, &j.Rejected, &j.NextLine,
		&rejections, &j.Failure, &j.Attempts, &j.CreatedAt, &j.UpdatedAt, &j.FinishedAt)
	if err != nil {
		return importer.Job{}, err
	}
	j.Format = importer.Format(format)
	if err := json.Unmarshal(rejections, &j.Rejections); err != nil {
		return importer.Job{}, fmt.Errorf("import job %s: rejections: %w", j.ID, err)
	}
	return j, nil
}

// chunkReader reads a job's body chunk by chunk, in order.
type chunkReader struct {
	ctx  context.Context
	pool *pgxpool.Pool
	id   string
	seq  int
	buf  []byte
	done bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		err := r.pool.QueryRow(r.ctx, chunkSQL, r.id, r.seq).Scan(&r.buf)
		if errors.Is(err, pgx.ErrNoRows) {
			r.done = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read import body: %w", err)
		}
		r.seq++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
