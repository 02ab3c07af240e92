// Package alerting raises alerts from the integration events: per-device
// thresholds held for a while (AlertRaised, AlertCleared) and devices that
// stop sending measured data (DeviceWentSilent, DeviceResumed). The
// evaluator keeps its state in memory, rebuilt from the log on start, lets
// the domain rules decide, and appends what they decide to the device's
// alert stream under ids derived from each transition, so a redelivered
// input or a restart never stores an alert twice.
package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/forwarder"
	"github.com/fleetpulse/fleetpulse/projections"
)

// Appender is what the evaluator needs from the event store.
type Appender interface {
	Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error)
}

// Clock tells the time and ticks; tests drive both.
type Clock interface {
	Now() time.Time
	// Ticker returns a channel that ticks every d, and a stop function.
	Ticker(d time.Duration) (<-chan time.Time, func())
}

// SystemClock is the wall clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Config tunes the evaluator.
type Config struct {
	// OfflineAfter is how long a device may send no measured data before it
	// is reported silent; default 10 minutes.
	OfflineAfter time.Duration
	// CheckEvery is how often silence is checked; default OfflineAfter/10,
	// at least a second.
	CheckEvery time.Duration
}

// alertNamespace scopes alert event ids: UUIDv5 of the transition's key.
var alertNamespace = uuid.MustParse("3c1e7f5a-52d4-4b8e-9a41-0f6d2b9c7e18")

// EventID is the id of an alert event: the same transition has the same id.
func EventID(e domain.Event) string {
	return uuid.NewSHA1(alertNamespace, []byte(domain.AlertEventKey(e))).String()
}

type device struct {
	rules    map[string]domain.AlertRule
	states   map[string]domain.RuleState
	presence domain.Presence
	retired  bool // decommissioned: its silence is expected
}

// Evaluator decides alerts.
type Evaluator struct {
	store  Appender
	clock  Clock
	cfg    Config
	logger *slog.Logger

	mu      sync.Mutex
	devices map[string]*device
}

// New builds an evaluator with empty state.
func New(store Appender, clock Clock, logger *slog.Logger, cfg Config) *Evaluator {
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 10 * time.Minute
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = max(cfg.OfflineAfter/10, time.Second)
	}
	return &Evaluator{store: store, clock: clock, cfg: cfg, logger: logger, devices: map[string]*device{}}
}

func (ev *Evaluator) device(id string) *device {
	d := ev.devices[id]
	if d == nil {
		d = &device{rules: map[string]domain.AlertRule{}, states: map[string]domain.RuleState{}}
		ev.devices[id] = d
	}
	return d
}

// Handle folds one event of the log into the state and appends the alerts
// it causes. The state moves only once they are stored: a failed append
// leaves it as it was, and the redelivered event decides again.
func (ev *Evaluator) Handle(ctx context.Context, r domain.RecordedEvent) error {
	e, err := r.Decode()
	if errors.Is(err, domain.ErrUnknownEventType) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("event %s: %w", r.ID, err)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	switch e := e.(type) {
	case domain.AlertRuleSet:
		ev.device(e.DeviceID).rules[e.Name] = e.AlertRule
	case domain.AlertRaised:
		d := ev.device(e.DeviceID)
		if s := d.states[e.Rule]; !s.Raised && e.Since.After(s.RaisedAt) {
			s.Raised, s.RaisedAt = true, e.Since
			d.states[e.Rule] = s
		}
	case domain.AlertCleared:
		d := ev.device(e.DeviceID)
		if s := d.states[e.Rule]; s.Raised && s.RaisedAt.Equal(e.RaisedAt) {
			s.Raised = false
			d.states[e.Rule] = s
		}
	case domain.DeviceWentSilent:
		// Silence is decided by the clock, not by the data: a rebuild
		// learns it from the log.
		d := ev.device(e.DeviceID)
		if p := d.presence; !p.Silent && p.LastMeasuredAt.Equal(e.LastMeasuredAt) {
			d.presence.Silent, d.presence.SilentAt = true, e.At
		}
	case domain.DeviceDecommissioned:
		ev.device(e.DeviceID).retired = true
	case domain.MeasurementRecorded:
		return ev.measured(ctx, e.StationID, e.MeasuredAt, map[string]float64{e.Type: e.Value})
	case domain.VehicleEventRecorded:
		return ev.measured(ctx, e.VID, e.OccurredAt, e.Readings)
	}
	return nil
}

// measured decides on values a device measured at one instant.
func (ev *Evaluator) measured(ctx context.Context, id string, at time.Time, values map[string]float64) error {
	d := ev.device(id)
	presence, e := d.presence.Measured(id, at)
	var out []domain.Event
	if e != nil {
		out = append(out, e)
	}
	states := map[string]domain.RuleState{}
	for name, rule := range d.rules {
		v, ok := values[rule.Type]
		if !ok {
			continue
		}
		s, e := rule.Observe(d.states[name], v, at)
		states[name] = s
		if e != nil {
			out = append(out, e)
		}
	}
	if err := ev.emit(ctx, id, out); err != nil {
		return err
	}
	d.presence = presence
	for name, s := range states {
		d.states[name] = s
	}
	return nil
}

// Tick reports every device (but decommissioned ones) silent for longer
// than OfflineAfter at the clock's time.
func (ev *Evaluator) Tick(ctx context.Context) error {
	now := ev.clock.Now()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var errs []error
	for id, d := range ev.devices {
		if d.retired {
			continue
		}
		p, e := d.presence.Check(id, now, ev.cfg.OfflineAfter)
		if e == nil {
			continue
		}
		if err := ev.emit(ctx, id, []domain.Event{e}); err != nil {
			errs = append(errs, err)
			continue
		}
		d.presence = p
	}
	return errors.Join(errs...)
}

func (ev *Evaluator) emit(ctx context.Context, deviceID string, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	data := make([]domain.EventData, len(events))
	for i, e := range events {
		d, err := domain.NewEventData(EventID(e), e)
		if err != nil {
			return err
		}
		data[i] = d
	}
	if _, err := ev.store.Append(ctx, domain.AlertStream(deviceID), domain.AnyVersion, data); err != nil {
		return fmt.Errorf("append alerts of %s: %w", deviceID, err)
	}
	for _, e := range events {
		ev.logger.Info("alert", "device", deviceID, "event", e.EventType(), "key", domain.AlertEventKey(e))
	}
	return nil
}

// Rebuild folds the log from its start up to and including upTo (where
// the integration events will resume) into the state. Decisions it makes
// again are appended again, and stored once.
func (ev *Evaluator) Rebuild(ctx context.Context, log projections.EventLog, upTo domain.Position) (int, error) {
	pos, n := domain.Start, 0
	for pos.Less(upTo) {
		events, err := log.ReadAfter(ctx, pos, 1000)
		if err != nil {
			return n, err
		}
		if len(events) == 0 {
			return n, nil
		}
		for _, r := range events {
			if upTo.Less(r.Position) {
				return n, nil
			}
			if err := ev.Handle(ctx, r); err != nil {
				return n, err
			}
			pos = r.Position
			n++
		}
	}
	return n, nil
}

// Consume handles integration events until ctx ends. An event that fails
// is retried with a backoff, never nacked: a Go channel would redeliver it
// at once, forever, and the events behind it must wait their turn anyway.
func (ev *Evaluator) Consume(ctx context.Context, msgs <-chan *message.Message) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-msgs:
			if !ok {
				return nil
			}
			r, err := forwarder.Recorded(msg)
			if err != nil {
				// A message this code cannot read will not improve on retry.
				ev.logger.Error("unreadable integration event; skipped", "id", msg.UUID, "err", err)
				msg.Ack()
				continue
			}
			backoff := 100 * time.Millisecond
			for {
				err := ev.Handle(ctx, r)
				if err == nil {
					msg.Ack()
					break
				}
				ev.logger.Warn("alert evaluation failed; retrying", "event", r.ID, "err", err, "backoff", backoff)
				select {
				case <-ctx.Done():
					return nil // unacked: the forwarder keeps its checkpoint before it
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 5*time.Second)
			}
		}
	}
}

// Watch checks for silent devices on the clock's ticker until ctx ends.
func (ev *Evaluator) Watch(ctx context.Context) error {
	ticks, stop := ev.clock.Ticker(ev.cfg.CheckEvery)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			if err := ev.Tick(ctx); err != nil && ctx.Err() == nil {
				ev.logger.Warn("silence check failed", "err", err)
			}
		}
	}
}
