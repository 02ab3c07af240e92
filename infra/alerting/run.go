package alerting

import (
	"context"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/infra/forwarder"
	"github.com/fleetpulse/fleetpulse/infra/wmlog"
	"github.com/fleetpulse/fleetpulse/projections"
)

// Store is what the pipeline needs from the event store.
type Store interface {
	commands.AlertAppender
	projections.EventLog
	projections.Waiter
}

// Run forwards the log as integration events on an in-process bus and
// evaluates alerts from them, until ctx ends: the evaluator subscribes,
// rebuilds its state from the log up to the forwarder's checkpoint, and
// then the forwarder publishes from there.
// The forwarder's checkpoint is kept with the projections' (checkpoints).
func Run(ctx context.Context, store Store, checkpoints projections.ReadModelStore, clock Clock, logger *slog.Logger, cfg Config) error {
	cfg.defaults()
	bus := forwarder.NewGoChannel(wmlog.New(logger, "event-bus"))
	defer bus.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := bus.Subscribe(ctx, forwarder.Topic)
	if err != nil {
		return fmt.Errorf("subscribe to integration events: %w", err)
	}
	fwd := forwarder.New(store, store, forwarder.ReadModelCheckpoints{Store: checkpoints}, bus, logger.With("component", "forwarder"), forwarder.Config{})
	upTo, err := fwd.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("load forwarder checkpoint: %w", err)
	}
	evLogger := logger.With("component", "alerting")
	ev := commands.NewAlertEvaluator(store, clock.Now, evLogger, commands.AlertEvaluatorConfig{OfflineAfter: cfg.OfflineAfter})
	n, err := ev.Rebuild(ctx, store, upTo)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("rebuild alert state: %w", err)
	}
	logger.Info("alert state rebuilt", "events", n, "up_to", upTo.String())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return Consume(gctx, msgs, cfg.Metrics.instrument(ev.Handle), evLogger) })
	g.Go(func() error { return Watch(gctx, clock, cfg.CheckEvery, ev.Tick, evLogger) })
	g.Go(func() error { return fwd.Run(gctx) })
	return g.Wait()
}
