package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Shadow is a second, empty set of read models that a rebuild fills while
// the live set keeps serving, then swaps in at once.
type Shadow interface {
	ReadModelStore
	// CheckpointName names the checkpoint of the projection that fills it.
	CheckpointName(live string) string
	// LiveShares returns how many shares projection live runs as.
	LiveShares(ctx context.Context, live string) (int, error)
	// LiveCheckpoints returns where every checkpoint of projection live
	// stands, by checkpoint name (one per share).
	LiveCheckpoints(ctx context.Context, live string) (map[string]domain.Position, error)
	// Promote makes the shadow the live read models of projection live and
	// moves that projection's checkpoints to the shadow's: every table and
	// share, or (scope.One) only the rows of share scope.Share's devices
	// and its checkpoint. ErrShadowBehind if a live checkpoint it replaces
	// is ahead of the shadow's.
	Promote(ctx context.Context, live string, scope RebuildScope) error
}

// RebuildScope says what a rebuild rebuilds: the whole read models, which
// the projection then runs as Shares shares (0: as many as it runs as
// now), or (One) only the devices of share Share of the Shares it runs as.
type RebuildScope struct {
	Shares int
	Share  int
	One    bool
}

// Of returns the shares the rebuild projects.
func (s RebuildScope) Of() []Share {
	if s.One {
		return []Share{{Index: s.Share, Count: s.Shares}}
	}
	out := make([]Share, max(s.Shares, 1))
	for i := range out {
		out[i] = Share{Index: i, Count: s.Shares}
	}
	return out
}

// RebuildReport says what a rebuild did.
type RebuildReport struct {
	Events   int
	Duration time.Duration
}

// EventsPerSecond is the rebuild's throughput.
func (r RebuildReport) EventsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Events) / r.Duration.Seconds()
}

// Rebuild projects the whole log, up to head, into shadow and then swaps it
// in for the live read models: the read API sees the old model until the
// swap and the complete new one after it, never a half-built one. Events
// appended meanwhile are picked up by the live projectors after the swap.
// The projection keeps its share count.
func Rebuild(ctx context.Context, log EventLog, waiter Waiter, shadow Shadow, head domain.Position, logger *slog.Logger, cfg Config) (RebuildReport, error) {
	return RebuildShares(ctx, log, waiter, shadow, head, logger, cfg, RebuildScope{})
}

// RebuildShares is Rebuild of scope: the whole read models, partitioned
// into scope.Shares shares from then on (one projector per share fills the
// shadow, side by side), or one share's devices only. A partitioned
// projection's live projectors with another share count stop at the swap
// (ErrShareCountChanged): they are to be restarted with the new count.
func RebuildShares(ctx context.Context, log EventLog, waiter Waiter, shadow Shadow, head domain.Position, logger *slog.Logger, cfg Config, scope RebuildScope) (RebuildReport, error) {
	stored, err := shadow.LiveShares(ctx, ReadModels)
	if err != nil {
		return RebuildReport{}, err
	}
	if scope.Shares == 0 {
		scope.Shares = stored
	}
	if scope.One && scope.Shares != stored {
		return RebuildReport{}, fmt.Errorf("rebuild %s: %w: the read models run as %d shares", Share{scope.Share, scope.Shares}, ErrShareCountChanged, stored)
	}
	for _, s := range scope.Of() {
		if err := s.Validate(); err != nil {
			return RebuildReport{}, fmt.Errorf("rebuild: %w", err)
		}
	}
	cfg.Name = shadow.CheckpointName(ReadModels)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	start := time.Now()
	var report RebuildReport
	target := head
	for attempt := 0; ; attempt++ {
		// Catch up with the live projection too, so the swap never moves
		// the read models back in time.
		live, err := shadow.LiveCheckpoints(ctx, ReadModels)
		if err != nil {
			return report, err
		}
		for name, at := range live {
			if scope.One && name != (Share{scope.Share, scope.Shares}).CheckpointName(ReadModels) {
				continue
			}
			if target.Less(at) {
				target = at
			}
		}
		n, err := catchUpShares(ctx, log, waiter, shadow, logger, cfg, scope.Of(), target)
		report.Events += n
		report.Duration = time.Since(start)
		if err != nil {
			return report, fmt.Errorf("rebuild: %w", err)
		}
		err = shadow.Promote(ctx, ReadModels, scope)
		if errors.Is(err, ErrShadowBehind) && attempt < 20 {
			continue // the live projector moved on meanwhile
		}
		return report, err
	}
}

// catchUpShares runs one projector per share into store, side by side,
// until each has applied the log up to target; it returns how many events
// of the log they went through (each share reads every event).
func catchUpShares(ctx context.Context, log EventLog, waiter Waiter, store ReadModelStore, logger *slog.Logger, cfg Config, shares []Share, target domain.Position) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		total  int
		errAll error
	)
	for _, s := range shares {
		c := cfg
		c.Share = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := NewProjector(log, waiter, store, logger, c).CatchUp(ctx, target)
			mu.Lock()
			defer mu.Unlock()
			total = max(total, n)
			if err != nil && errAll == nil {
				errAll = err
				cancel() // the others' work would be thrown away
			}
		}()
	}
	wg.Wait()
	return total, errAll
}

// ErrShadowBehind means the live projection moved past the shadow while it
// was being promoted; the rebuild catches up and tries again.
var ErrShadowBehind = errors.New("shadow read models are behind the live ones")
