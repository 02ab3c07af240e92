package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

// AlertEvaluator is the application process that raises alerts from the
// event log: per-device thresholds held for a while (AlertRaised,
// AlertCleared) and devices that stop sending measured data
// (DeviceWentSilent, DeviceResumed). It keeps its state in memory, rebuilt
// from the log on start, lets the domain rules decide (AlertRule.Observe,
// Presence), and appends what they decide to the device's alert stream
// under ids derived from each transition, so a redelivered input or a
// restart never stores an alert twice. How the events reach it and when it
// checks for silence is the caller's business (infra/alerting).
type AlertEvaluator struct {
	store  AlertAppender
	now    func() time.Time
	cfg    AlertEvaluatorConfig
	logger *slog.Logger

	mu      sync.Mutex
	devices map[string]*alertedDevice
}

// AlertAppender is what the alert evaluator needs from the event store.
type AlertAppender interface {
	Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error)
}

// EventLogReader reads the global log in order, as the alert evaluator
// rebuilds its state from it.
type EventLogReader interface {
	// ReadAfter returns at most max events after position after, in order.
	ReadAfter(ctx context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error)
}

// DefaultOfflineAfter is how long a device may send no measured data before
// it is reported silent, unless configured.
const DefaultOfflineAfter = 10 * time.Minute

// AlertEvaluatorConfig tunes the alert evaluator.
type AlertEvaluatorConfig struct {
	// OfflineAfter is how long a device may send no measured data before it
	// is reported silent; DefaultOfflineAfter when zero.
	OfflineAfter time.Duration
}

// alertNamespace scopes alert event ids: UUIDv5 of the transition's key.
// Stored alerts carry ids made with it: it never changes.
var alertNamespace = uuid.MustParse("3c1e7f5a-52d4-4b8e-9a41-0f6d2b9c7e18")

// AlertEventID is the id of an alert event: the same transition has the
// same id.
func AlertEventID(e domain.Event) string {
	return uuid.NewSHA1(alertNamespace, []byte(domain.AlertEventKey(e))).String()
}

// alertedDevice is what the evaluator knows of one device.
type alertedDevice struct {
	rules    map[string]domain.AlertRule
	states   map[string]domain.RuleState
	presence domain.Presence
	retired  bool // decommissioned: its silence is expected
}

// NewAlertEvaluator builds an evaluator with empty state; now is its clock.
func NewAlertEvaluator(store AlertAppender, now func() time.Time, logger *slog.Logger, cfg AlertEvaluatorConfig) *AlertEvaluator {
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = DefaultOfflineAfter
	}
	return &AlertEvaluator{store: store, now: now, cfg: cfg, logger: logger, devices: map[string]*alertedDevice{}}
}

func (ev *AlertEvaluator) device(id string) *alertedDevice {
	d := ev.devices[id]
	if d == nil {
		d = &alertedDevice{rules: map[string]domain.AlertRule{}, states: map[string]domain.RuleState{}}
		ev.devices[id] = d
	}
	return d
}

// Handle folds one event of the log into the state and appends the alerts
// it causes. The state moves only once they are stored: a failed append
// leaves it as it was, and the redelivered event decides again.
func (ev *AlertEvaluator) Handle(ctx context.Context, r domain.RecordedEvent) error {
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
	case domain.MeasurementsRecorded:
		for _, m := range e.Measurements {
			if err := ev.measured(ctx, e.StationID, m.MeasuredAt, map[string]float64{m.Type: m.Value}); err != nil {
				return err
			}
		}
	case domain.VehicleEventsRecorded:
		for _, v := range e.Events {
			if err := ev.measured(ctx, e.VID, v.OccurredAt, v.Readings); err != nil {
				return err
			}
		}
	}
	return nil
}

// measured decides on values a device measured at one instant.
func (ev *AlertEvaluator) measured(ctx context.Context, id string, at time.Time, values map[string]float64) error {
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
func (ev *AlertEvaluator) Tick(ctx context.Context) error {
	now := ev.now()
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

func (ev *AlertEvaluator) emit(ctx context.Context, deviceID string, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	data := make([]domain.EventData, len(events))
	for i, e := range events {
		d, err := domain.NewEventData(AlertEventID(e), e)
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
// the events will resume) into the state. Decisions it makes again are
// appended again, and stored once.
func (ev *AlertEvaluator) Rebuild(ctx context.Context, log EventLogReader, upTo domain.Position) (int, error) {
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
