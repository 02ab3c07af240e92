package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// States of an import job.
const (
	StateQueued  = "queued"  // uploaded, waiting for a runner
	StateRunning = "running" // claimed by a runner (or its runner died and its lease will run out)
	StateDone    = "done"    // every row read; counts final
	StateFailed  = "failed"  // stopped for good: Failure says why
)

// ErrJobNotFound is the answer for a job id no job has.
var ErrJobNotFound = errors.New("import job not found")

// ErrLeaseLost is a runner's commit or finish of a job that another runner
// has claimed since (its lease ran out): the runner stops working on it.
var ErrLeaseLost = errors.New("the import job's lease was lost")

// Job is an import job: the uploaded file's format and size, and how far
// its import is.
type Job struct {
	ID         string
	Format     Format
	State      string
	BodyBytes  int64
	Failure    string
	Attempts   int
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
	Progress
}

// JobQueue is where jobs and their uploaded bodies are kept (PostgreSQL,
// infra/postgres/importjobs).
type JobQueue interface {
	// Claim takes the oldest queued job, or a running one whose lease ran
	// out, for lease; owner proves the claim to the calls below.
	Claim(ctx context.Context, lease time.Duration) (job Job, owner string, ok bool, err error)
	// Body reads a job's uploaded file from its start.
	Body(ctx context.Context, id string) io.Reader
	// Commit stores a job's progress and renews the lease (ErrLeaseLost).
	Commit(ctx context.Context, id, owner string, p Progress, lease time.Duration) error
	// Finish ends a job (done or failed) and drops its body (ErrLeaseLost).
	Finish(ctx context.Context, id, owner string, p Progress, state, failure string) error
	// Release gives a claimed job back to the queue (a runner shutting down).
	Release(ctx context.Context, id, owner string) error
}

// MaxAttempts is how many runners may take a job that keeps stopping on an
// error before it is failed for good. A file that cannot be imported
// (ErrBadFile) fails at once.
const MaxAttempts = 5

// RunnerConfig tunes a Runner.
type RunnerConfig struct {
	// Lease is how long a claimed job stays a runner's without a commit:
	// a runner that died is replaced after it.
	Lease time.Duration
	// Poll is how often the queue is looked at when idle.
	Poll time.Duration
}

// Runner runs the queue's jobs one at a time until its context ends.
type Runner struct {
	im     *Importer
	queue  JobQueue
	cfg    RunnerConfig
	logger *slog.Logger
	wake   chan struct{}
}

// NewRunner returns a runner of queue's jobs through im.
func NewRunner(im *Importer, queue JobQueue, cfg RunnerConfig, logger *slog.Logger) *Runner {
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	return &Runner{im: im, queue: queue, cfg: cfg, logger: logger, wake: make(chan struct{}, 1)}
}

// Wake tells the runner a job was queued, so it need not wait for its poll.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends; a job being run then is given
// back to the queue, to be resumed by the next runner from its last commit.
func (r *Runner) Run(ctx context.Context) error {
	for {
		job, owner, ok, err := r.queue.Claim(ctx, r.cfg.Lease)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.logger.Warn("claiming an import job failed", "err", err)
		}
		if ok {
			r.runJob(ctx, job, owner)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-time.After(r.cfg.Poll):
		}
	}
}

func (r *Runner) runJob(ctx context.Context, job Job, owner string) {
	log := r.logger.With("import", job.ID)
	log.Info("import job started", "format", job.Format, "bytes", job.BodyBytes, "from_line", job.NextLine, "attempt", job.Attempts)
	p, err := r.run(ctx, job, owner)
	// The job's last words are written even when ctx ended.
	done, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case ctx.Err() != nil:
		if rerr := r.queue.Release(done, job.ID, owner); rerr != nil {
			log.Warn("giving an import job back failed; it is resumed when its lease runs out", "err", rerr)
		}
		log.Info("import job stopped; it resumes from its last committed line", "next_line", p.NextLine)
	case errors.Is(err, ErrLeaseLost):
		log.Warn("import job taken over by another runner", "err", err)
	case err != nil && !errors.Is(err, ErrBadFile) && job.Attempts < MaxAttempts:
		// Most likely passing (PostgreSQL restarting, the command side
		// away): the job is left claimed, and resumed from its last commit
		// once the lease runs out, which paces the retries.
		log.Warn("import job stopped; it is resumed when its lease runs out", "err", err, "attempt", job.Attempts, "next_line", p.NextLine)
	case err != nil:
		log.Error("import job failed", "err", err, "rows", p.Rows)
		if ferr := r.queue.Finish(done, job.ID, owner, p, StateFailed, err.Error()); ferr != nil {
			log.Warn("recording an import job's failure failed", "err", ferr)
		}
	default:
		if ferr := r.queue.Finish(done, job.ID, owner, p, StateDone, ""); ferr != nil {
			log.Warn("recording an import job's end failed", "err", ferr)
			return
		}
		log.Info("import job done", "rows", p.Rows, "accepted", p.Accepted, "duplicates", p.Duplicates, "rejected", p.Rejected)
	}
}

func (r *Runner) run(ctx context.Context, job Job, owner string) (Progress, error) {
	dec, err := r.im.NewDecoder(job.Format, r.queue.Body(ctx, job.ID))
	if err != nil {
		return job.Progress, err
	}
	p, err := r.im.Run(ctx, dec, job.Progress, func(ctx context.Context, p Progress) error {
		return r.queue.Commit(ctx, job.ID, owner, p, r.cfg.Lease)
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrLeaseLost) {
		err = fmt.Errorf("stopped before line %d: %w", p.NextLine, err)
	}
	return p, err
}
