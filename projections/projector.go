// Package projections turns the event log into read models: raw
// measurements and vehicle events, daily aggregates in each device's time
// zone, latest values and device metadata. A projector reads the log in order
// from its checkpoint and hands each batch's changes, with the new
// checkpoint, to a store that commits both at once: exactly-once effect.
// The projection can be partitioned into shares of the devices (Share),
// one projector and checkpoint each; changing their count is a rebuild.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// EventLog is what a projector reads: the global log in order.
type EventLog interface {
	// ReadAfter returns up to max events that follow after, in log order.
	ReadAfter(ctx context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error)
}

// Waiter blocks until new events may be readable (or a polling interval passed).
type Waiter interface {
	Wait(ctx context.Context)
}

// ErrCheckpointMoved means another projector of the same name committed
// first; the batch was not applied.
var ErrCheckpointMoved = errors.New("checkpoint moved")

// ReadModelStore commits a batch's changes and the projection's checkpoint
// in one transaction.
type ReadModelStore interface {
	// Checkpoint returns where the checkpoint name stands (domain.Start if
	// new); the integration-event forwarder keeps its own with it.
	Checkpoint(ctx context.Context, name string) (domain.Position, error)
	// DeviceZones returns every known device's time zone name.
	DeviceZones(ctx context.Context) (map[string]string, error)
	// BucketSpecs returns the operator-defined bucket projections.
	BucketSpecs(ctx context.Context) ([]BucketSpec, error)
	// Apply writes changes and moves the checkpoint from `from` to `to`;
	// ErrCheckpointMoved if the checkpoint is no longer at `from`.
	Apply(ctx context.Context, name string, from, to domain.Position, changes *Changes) error
	// ClaimShares returns how many shares projection runs as (1 when it
	// was never partitioned) and, when that is count, where checkpoint (one
	// share's) stands, creating it at the start if new. While none of the
	// projection's checkpoints has moved from the start, it records count
	// first (dropping the unmoved checkpoints of another count): a new
	// projection may start partitioned; one that has projected anything
	// changes its count only by a rebuild. Checking the count and making
	// the checkpoint are one transaction, so a projector of a superseded
	// count never gets a checkpoint to apply batches against.
	ClaimShares(ctx context.Context, projection, checkpoint string, count int) (int, domain.Position, error)
}

// Name of the projection that maintains every read model of the read API.
const ReadModels = "read_models"

// Projector keeps the read models up to date with the log.
type Projector struct {
	projection string // the projection's name
	name       string // its checkpoint's: the share's
	share      Share
	log        EventLog
	waiter     Waiter
	store      ReadModelStore
	batchSize  int
	maxItems   int
	logger     *slog.Logger
	onBatch    func(events int, last domain.RecordedEvent)
	retry      func(ctx context.Context, attempt func() error) error

	checkpoint domain.Position
	zones      zones
	specs      []BucketSpec
	ahead      *pageAhead // the next page, read while a batch is applied
}

// pageAhead is the page of the log after a batch, read while that batch is
// applied: reading (PostgreSQL turning events into text, or an archive
// file's decoding) then overlaps the read models' writes instead of
// waiting for them. It is used only if the batch committed (the checkpoint
// is where it was read from) and it is not empty (at the log's end, the
// log may have grown since).
type pageAhead struct {
	after  domain.Position
	asked  int
	events []domain.RecordedEvent
	err    error
	done   chan struct{}
}

// Config tunes a projector.
type Config struct {
	// Name is the projection's name; default ReadModels.
	Name string
	// Share is the part of the devices this projector projects, with its
	// own checkpoint (Share.CheckpointName); the zero Share projects all.
	Share     Share
	BatchSize int // events per transaction; default 2000
	// MaxItems bounds the telemetry items (measurements, vehicle events) of
	// one transaction; default 50,000. An event is never split.
	MaxItems int
	// OnBatch, if set, is called after each committed batch (metrics, lag)
	// with the number of events it applied: those of the projector's share.
	OnBatch func(events int, last domain.RecordedEvent)
	// Retry runs attempt again after each failure, pacing the attempts,
	// until it succeeds (nil) or gives up (its last error, or ctx's when ctx
	// ended): Run retries a failed batch through it from the checkpoint.
	// infra/retry.Func is the one the processes use. Nil: Run returns the
	// first failed batch's error.
	Retry func(ctx context.Context, attempt func() error) error
}

// NewProjector builds the read-model projector.
func NewProjector(log EventLog, waiter Waiter, store ReadModelStore, logger *slog.Logger, cfg Config) *Projector {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 2000
	}
	if cfg.Name == "" {
		cfg.Name = ReadModels
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 50_000
	}
	if cfg.Retry == nil {
		cfg.Retry = func(_ context.Context, attempt func() error) error { return attempt() }
	}
	return &Projector{projection: cfg.Name, name: cfg.Share.CheckpointName(cfg.Name), share: cfg.Share, log: log, waiter: waiter, store: store, batchSize: cfg.BatchSize,
		maxItems: cfg.MaxItems, logger: logger, onBatch: cfg.OnBatch, retry: cfg.Retry}
}

// Run projects until ctx ends. A batch whose commit has begun is finished
// even when ctx ends meanwhile, so shutdown never wastes work. A failed batch
// is retried (Config.Retry) from the checkpoint, reloaded first: another
// projector, or a rebuild's swap, may have moved it.
func (p *Projector) Run(ctx context.Context) error {
	defer p.settle()
	if err := p.load(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: a clean shutdown, nothing was applied
		}
		return err
	}
	for ctx.Err() == nil {
		n, failed := 0, false
		var fatal error // ends Run: no retry can mend it
		err := p.retry(ctx, func() error {
			if failed {
				if err := p.load(ctx); errors.Is(err, ErrShareCountChanged) {
					fatal = err
					return nil
				} else if err != nil && ctx.Err() == nil {
					p.logger.Warn("reload projection state failed", "projection", p.name, "err", err)
				}
			}
			var err error
			n, err = p.step(ctx, nil)
			failed = err != nil
			if failed && ctx.Err() == nil {
				p.logger.Warn("projection batch failed; retrying from checkpoint", "projection", p.name, "err", err)
			}
			return err
		})
		switch {
		case fatal != nil:
			return fatal
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("projection %s: %w", p.name, err)
		case n == 0:
			p.waiter.Wait(ctx)
		}
	}
	return nil
}

// CatchUp projects until every event up to target (the log's head when the
// caller asked) is applied, and returns how many events it applied. Events
// of transactions still running elsewhere become readable only when those
// end, so CatchUp waits for them rather than stopping early.
func (p *Projector) CatchUp(ctx context.Context, target domain.Position) (int, error) {
	defer p.settle()
	if err := p.load(ctx); err != nil {
		return 0, err
	}
	total := 0
	for p.checkpoint.Less(target) {
		n, err := p.step(ctx, &target)
		total += n
		if errors.Is(err, ErrCheckpointMoved) {
			// Another projector of this name applied the batch; go on from
			// where it got to.
			if err := p.load(ctx); err != nil {
				return total, err
			}
			continue
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			p.waiter.Wait(ctx)
		}
	}
	return total, nil
}

// load checks the projection's share count, and reads the checkpoint and
// the device zones that belong to it.
func (p *Projector) load(ctx context.Context) error {
	if err := p.share.Validate(); err != nil {
		return err
	}
	stored, cp, err := p.store.ClaimShares(ctx, p.projection, p.name, p.share.Shares())
	if err != nil {
		return fmt.Errorf("load checkpoint of %s: %w", p.name, err)
	}
	if stored != p.share.Shares() {
		return fmt.Errorf("%w: projection %s runs as %d shares and this projector is %s; set FLEETPULSE_PROJECTOR_SHARES=%d, or change the count with `fleetpulse rebuild -shares %d` first",
			ErrShareCountChanged, p.projection, stored, p.share, stored, p.share.Shares())
	}
	names, err := p.store.DeviceZones(ctx)
	if err != nil {
		return fmt.Errorf("load device zones: %w", err)
	}
	z := make(zones, len(names))
	for id, name := range names {
		z.set(id, name)
	}
	specs, err := p.store.BucketSpecs(ctx)
	if err != nil {
		return fmt.Errorf("load bucket projections: %w", err)
	}
	p.checkpoint, p.zones, p.specs = cp, z, specs
	return nil
}

// step applies one batch and returns how many events of the log it went
// past (those of other shares included). While it applies a full batch (a
// backlog) it reads the next page (pageAhead), unless the batch reaches
// target.
func (p *Projector) step(ctx context.Context, target *domain.Position) (int, error) {
	events, asked, err := p.read(ctx)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	full := len(events) >= asked
	changes := newChanges(p.specs)
	for i, r := range events {
		// Another share's event is skipped before it is decoded; the
		// checkpoint still moves past it.
		if !p.share.Owns(r) {
			continue
		}
		if err := changes.add(r, p.zones); err != nil {
			return 0, err
		}
		// A telemetry event holds a batch of items: the transaction is
		// bounded by items too (the rest is read again next step).
		if changes.Items() >= p.maxItems {
			full = true
			events = events[:i+1]
			break
		}
	}
	last := events[len(events)-1]
	if full && (target == nil || last.Position.Less(*target)) {
		// As many events as this batch took: a page of 2,000 vehicle
		// batches is 56 MB of JSON, of which a batch takes the first 50,000
		// items; two whole ones at once would double the projector's peak.
		p.readAhead(ctx, last.Position, len(events))
	}
	// The commit runs to its end even if ctx is cancelled meanwhile.
	applyCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := p.store.Apply(applyCtx, p.name, p.checkpoint, last.Position, changes); err != nil {
		return 0, err
	}
	p.checkpoint = last.Position
	if p.onBatch != nil {
		p.onBatch(changes.Events, last)
	}
	return len(events), nil
}

// read returns the page after the checkpoint, and how many events were
// asked for: the one read ahead if it is that page and holds events, else
// a page read now (which reports its own error if the one read ahead
// failed).
func (p *Projector) read(ctx context.Context) ([]domain.RecordedEvent, int, error) {
	if a := p.ahead; a != nil {
		p.ahead = nil
		<-a.done
		if a.err == nil && len(a.events) > 0 && a.after == p.checkpoint {
			return a.events, a.asked, nil
		}
	}
	events, err := p.log.ReadAfter(ctx, p.checkpoint, p.batchSize)
	return events, p.batchSize, err
}

// readAhead starts reading the page of n events after position after.
func (p *Projector) readAhead(ctx context.Context, after domain.Position, n int) {
	p.settle()
	a := &pageAhead{after: after, asked: n, done: make(chan struct{})}
	p.ahead = a
	go func() {
		defer close(a.done)
		a.events, a.err = p.log.ReadAfter(ctx, after, n)
	}()
}

// settle waits for a page being read ahead and drops it: nothing of the
// projector runs after Run or CatchUp return.
func (p *Projector) settle() {
	if a := p.ahead; a != nil {
		p.ahead = nil
		<-a.done
	}
}

// Checkpoint returns the position of the last applied event.
func (p *Projector) Checkpoint() domain.Position { return p.checkpoint }
