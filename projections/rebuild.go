package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Shadow is a second, empty set of read models that a rebuild fills while
// the live set keeps serving, then swaps in at once.
type Shadow interface {
	ReadModelStore
	// CheckpointName names the checkpoint of the projection that fills it.
	CheckpointName(live string) string
	// Promote makes the shadow the live read models of projection live and
	// moves that projection's checkpoint to the shadow's.
	Promote(ctx context.Context, live string) error
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
// appended meanwhile are picked up by the live projector after the swap.
func Rebuild(ctx context.Context, log EventLog, waiter Waiter, shadow Shadow, head domain.Position, logger *slog.Logger, cfg Config) (RebuildReport, error) {
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
		live, err := shadow.Checkpoint(ctx, ReadModels)
		if err != nil {
			return report, err
		}
		if target.Less(live) {
			target = live
		}
		n, err := NewProjector(log, waiter, shadow, logger, cfg).CatchUp(ctx, target)
		report.Events += n
		report.Duration = time.Since(start)
		if err != nil {
			return report, fmt.Errorf("rebuild: %w", err)
		}
		err = shadow.Promote(ctx, ReadModels)
		if errors.Is(err, ErrShadowBehind) && attempt < 20 {
			continue // the live projector moved on meanwhile
		}
		return report, err
	}
}

// ErrShadowBehind means the live projection moved past the shadow while it
// was being promoted; the rebuild catches up and tries again.
var ErrShadowBehind = errors.New("shadow read models are behind the live ones")
