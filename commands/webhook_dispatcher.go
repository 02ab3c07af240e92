package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// WebhookDispatcher is the application process that turns alert events of
// the log into webhook deliveries. It reads the log in order from its own
// checkpoint; per batch it folds the endpoints' registrations, removals and
// disablings, matches every AlertRaised and AlertCleared against the
// endpoints active at that point of the log, and hands the endpoint changes,
// the deliveries and the new checkpoint to its outbox in ONE commit: a crash
// repeats a batch whole or not at all, so each alert is queued once per
// matching endpoint. Sending is the delivery workers' business
// (infra/webhook), never this loop's: a slow endpoint cannot hold it up.
type WebhookDispatcher struct {
	log    EventLogReader
	waiter LogWaiter
	outbox WebhookOutbox
	logger *slog.Logger
	cfg    WebhookDispatcherConfig

	checkpoint domain.Position
	hooks      map[string]domain.Webhook // active
	parked     map[string]domain.Webhook // disabled: enabled again by WebhookEnabled
}

// LogWaiter blocks until new events may be readable (or a polling interval passed).
type LogWaiter interface {
	Wait(ctx context.Context)
}

// WebhookOutbox is what the dispatcher needs from its store.
type WebhookOutbox interface {
	// WebhookCheckpoint returns where the dispatcher stands in the log.
	WebhookCheckpoint(ctx context.Context) (domain.Position, error)
	// Webhooks returns the endpoints active and those disabled at the
	// checkpoint (removed ones are in neither).
	Webhooks(ctx context.Context) (active, disabled []domain.Webhook, err error)
	// CommitWebhooks applies b and moves the checkpoint from `from` to
	// `to` in one transaction; it fails, changing nothing, when the
	// checkpoint is no longer at `from`.
	CommitWebhooks(ctx context.Context, from, to domain.Position, b *WebhookBatch) error
}

// WebhookBatch is what one batch of the log changes.
type WebhookBatch struct {
	Events     int
	Registered []domain.Webhook
	Removed    []string // removed by an operator: pending deliveries are dropped
	Disabled   []string // disabled after failures: pending deliveries are kept
	Enabled    []string // enabled again by an operator: kept deliveries are sent
	Deliveries []WebhookDelivery
}

// WebhookDispatcherConfig tunes the dispatcher.
type WebhookDispatcherConfig struct {
	BatchSize int // events read per step; default 500
	// Dispatched, if set, hears the endpoints that got deliveries in a
	// committed batch (the workers wake at once instead of polling).
	Dispatched func(webhookIDs []string)
	// Enabled, if set, hears the endpoints a committed batch enabled again.
	Enabled func(webhookIDs []string)
}

// NewWebhookDispatcher builds a dispatcher; Run loads its state.
func NewWebhookDispatcher(log EventLogReader, waiter LogWaiter, outbox WebhookOutbox, logger *slog.Logger, cfg WebhookDispatcherConfig) *WebhookDispatcher {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	return &WebhookDispatcher{log: log, waiter: waiter, outbox: outbox, logger: logger, cfg: cfg}
}

// Load reads the checkpoint and the endpoints active there.
func (d *WebhookDispatcher) Load(ctx context.Context) error {
	cp, err := d.outbox.WebhookCheckpoint(ctx)
	if err != nil {
		return fmt.Errorf("load webhook checkpoint: %w", err)
	}
	active, disabled, err := d.outbox.Webhooks(ctx)
	if err != nil {
		return fmt.Errorf("load webhooks: %w", err)
	}
	d.checkpoint, d.hooks, d.parked = cp, make(map[string]domain.Webhook, len(active)), make(map[string]domain.Webhook, len(disabled))
	for _, h := range active {
		d.hooks[h.ID] = h
	}
	for _, h := range disabled {
		d.parked[h.ID] = h
	}
	return nil
}

// Run dispatches until ctx ends; a failed step is retried from the stored
// checkpoint, reloaded, after a pause doubling from 100 ms to 5 s.
func (d *WebhookDispatcher) Run(ctx context.Context) error {
	pause, loaded := 100*time.Millisecond, false
	for ctx.Err() == nil {
		n, err := 0, d.loadOnce(ctx, &loaded)
		if err == nil {
			n, err = d.Step(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			loaded = false
			d.logger.Warn("webhook dispatch failed; retrying from checkpoint", "err", err, "backoff", pause)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, 5*time.Second)
		case n == 0:
			pause = 100 * time.Millisecond
			d.waiter.Wait(ctx)
		default:
			pause = 100 * time.Millisecond
		}
	}
	return nil
}

// loadOnce loads the state unless *loaded says it is.
func (d *WebhookDispatcher) loadOnce(ctx context.Context, loaded *bool) error {
	if *loaded {
		return nil
	}
	err := d.Load(ctx)
	*loaded = err == nil
	return err
}

// Step dispatches one batch from the loaded checkpoint and returns how many
// events it read.
func (d *WebhookDispatcher) Step(ctx context.Context) (int, error) {
	events, err := d.log.ReadAfter(ctx, d.checkpoint, d.cfg.BatchSize)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	hooks, parked := maps.Clone(d.hooks), maps.Clone(d.parked)
	b := &WebhookBatch{Events: len(events)}
	for _, r := range events {
		if err := d.fold(hooks, parked, b, r); err != nil {
			return 0, err
		}
	}
	to := events[len(events)-1].Position
	if err := d.outbox.CommitWebhooks(ctx, d.checkpoint, to, b); err != nil {
		return 0, err
	}
	d.checkpoint, d.hooks, d.parked = to, hooks, parked
	if d.cfg.Enabled != nil && len(b.Enabled) > 0 {
		d.cfg.Enabled(b.Enabled)
	}
	if d.cfg.Dispatched != nil && len(b.Deliveries) > 0 {
		var ids []string
		for _, dl := range b.Deliveries {
			if !slices.Contains(ids, dl.WebhookID) {
				ids = append(ids, dl.WebhookID)
			}
		}
		d.cfg.Dispatched(ids)
	}
	return len(events), nil
}

// fold applies one event of the log to the endpoints and the batch. Only
// webhook and alert events are decoded: telemetry passes by untouched.
func (d *WebhookDispatcher) fold(hooks, parked map[string]domain.Webhook, b *WebhookBatch, r domain.RecordedEvent) error {
	switch r.Type {
	case domain.TypeWebhookRegistered, domain.TypeWebhookRemoved, domain.TypeWebhookDisabled, domain.TypeWebhookEnabled:
		e, err := r.Decode()
		if err != nil {
			return fmt.Errorf("event %s: %w", r.ID, err)
		}
		switch e := e.(type) {
		case domain.WebhookRegistered:
			hooks[e.ID] = e.Webhook
			b.Registered = append(b.Registered, e.Webhook)
		case domain.WebhookRemoved:
			delete(hooks, e.WebhookID)
			delete(parked, e.WebhookID)
			b.Removed = append(b.Removed, e.WebhookID)
		case domain.WebhookDisabled:
			if w, ok := hooks[e.WebhookID]; ok {
				parked[e.WebhookID] = w
				delete(hooks, e.WebhookID)
			}
			b.Disabled = append(b.Disabled, e.WebhookID)
		case domain.WebhookEnabled:
			if w, ok := parked[e.WebhookID]; ok {
				hooks[e.WebhookID] = w
				delete(parked, e.WebhookID)
			}
			b.Enabled = append(b.Enabled, e.WebhookID)
		}
	case domain.TypeAlertRaised, domain.TypeAlertCleared:
		device, ok := domain.AlertDevice(r)
		if !ok {
			d.logger.Warn("alert event without a device; not dispatched", "event", r.ID)
			return nil
		}
		var payload []byte
		for _, id := range slices.Sorted(maps.Keys(hooks)) {
			if !hooks[id].Wants(r.Type, device) {
				continue
			}
			if payload == nil {
				var err error
				if payload, err = domain.NewWebhookPayload(r, device); err != nil {
					return fmt.Errorf("event %s: %w", r.ID, err)
				}
			}
			b.Deliveries = append(b.Deliveries, WebhookDelivery{WebhookID: id, EventID: r.ID, EventType: r.Type, Payload: payload})
		}
	}
	return nil
}

// ErrWebhookCheckpointMoved means another dispatcher committed first.
var ErrWebhookCheckpointMoved = errors.New("webhook checkpoint moved")
