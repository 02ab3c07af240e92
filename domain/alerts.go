package domain

import (
	"fmt"
	"strings"
	"time"
)

// AlertStream names the stream of a device's alert rules, alerts and silences.
func AlertStream(deviceID string) string { return "alerts-" + deviceID }

// AlertRule raises an alert when a device's measurement Type stays above
// Above for at least For, and clears it when a value drops back.
type AlertRule struct {
	DeviceID string        `json:"device_id"`
	Name     string        `json:"rule"`
	Type     string        `json:"type"`
	Above    float64       `json:"above"`
	For      time.Duration `json:"for"` // nanoseconds in JSON
}

// AlertRuleSet records an operator's rule; a later rule of the same name
// replaces it.
type AlertRuleSet struct {
	AlertRule
	SetAt time.Time `json:"set_at"`
}

// AlertRaised: the rule's threshold has been exceeded since Since.
type AlertRaised struct {
	DeviceID  string    `json:"device_id"`
	Rule      string    `json:"rule"`
	Type      string    `json:"type"`
	Threshold float64   `json:"threshold"`
	Value     float64   `json:"value"`
	Since     time.Time `json:"since"`
	At        time.Time `json:"at"`
}

// AlertCleared: a value at or below the threshold ended the alert raised at RaisedAt.
type AlertCleared struct {
	DeviceID  string    `json:"device_id"`
	Rule      string    `json:"rule"`
	Type      string    `json:"type"`
	Threshold float64   `json:"threshold"`
	Value     float64   `json:"value"`
	RaisedAt  time.Time `json:"raised_at"`
	At        time.Time `json:"at"`
}

// DeviceWentSilent: no measured data since LastMeasuredAt, for longer than allowed.
type DeviceWentSilent struct {
	DeviceID       string    `json:"device_id"`
	LastMeasuredAt time.Time `json:"last_measured_at"`
	At             time.Time `json:"at"`
}

// DeviceResumed: data measured after the silence arrived. SilentSince is the
// LastMeasuredAt of the silence it ends.
type DeviceResumed struct {
	DeviceID    string    `json:"device_id"`
	SilentSince time.Time `json:"silent_since"`
	MeasuredAt  time.Time `json:"measured_at"`
	At          time.Time `json:"at"`
}

func (AlertRuleSet) EventType() string     { return TypeAlertRuleSet }
func (AlertRaised) EventType() string      { return TypeAlertRaised }
func (AlertCleared) EventType() string     { return TypeAlertCleared }
func (DeviceWentSilent) EventType() string { return TypeDeviceWentSilent }
func (DeviceResumed) EventType() string    { return TypeDeviceResumed }

// NewAlertRule validates an operator's rule.
func NewAlertRule(deviceID, name, typ string, above float64, hold time.Duration) (AlertRule, error) {
	switch {
	case strings.TrimSpace(deviceID) == "":
		return AlertRule{}, invalid("device_id", "is required")
	case !validRuleName(name):
		return AlertRule{}, invalid("rule", "must be 1-64 letters, digits, '-', '_' or '.'")
	case strings.TrimSpace(typ) == "":
		return AlertRule{}, invalid("type", "is required")
	case hold < 0:
		return AlertRule{}, invalid("for", "must not be negative")
	case hold > 7*24*time.Hour:
		return AlertRule{}, invalid("for", "must be at most a week")
	}
	return AlertRule{DeviceID: deviceID, Name: name, Type: typ, Above: above, For: hold}, nil
}

func validRuleName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

// SetAlertRule decides an operator's rule.
func SetAlertRule(r AlertRule, now time.Time) (AlertRuleSet, error) {
	r, err := NewAlertRule(r.DeviceID, r.Name, r.Type, r.Above, r.For)
	if err != nil {
		return AlertRuleSet{}, err
	}
	return AlertRuleSet{AlertRule: r, SetAt: now.UTC()}, nil
}

// RuleState is where one rule stands for its device.
type RuleState struct {
	Above    bool      // the last value was above the threshold
	Since    time.Time // since when, without a value at or below in between
	Raised   bool
	RaisedAt time.Time // Since of the raised alert
	LastAt   time.Time // measured time of the last value seen
}

// Observe folds one measured value into the rule's state and returns the
// alert event it causes, if any: AlertRaised once the value has stayed above
// the threshold for the rule's duration, AlertCleared at the first value at
// or below it. Values measured before the last one seen change nothing.
func (r AlertRule) Observe(s RuleState, value float64, at time.Time) (RuleState, Event) {
	if !s.LastAt.IsZero() && at.Before(s.LastAt) {
		return s, nil
	}
	s.LastAt = at
	if value > r.Above {
		if !s.Above {
			s.Above, s.Since = true, at
		}
		if !s.Raised && at.Sub(s.Since) >= r.For {
			s.Raised, s.RaisedAt = true, s.Since
			return s, AlertRaised{DeviceID: r.DeviceID, Rule: r.Name, Type: r.Type, Threshold: r.Above, Value: value, Since: s.Since, At: at}
		}
		return s, nil
	}
	s.Above = false
	if s.Raised {
		s.Raised = false
		return s, AlertCleared{DeviceID: r.DeviceID, Rule: r.Name, Type: r.Type, Threshold: r.Above, Value: value, RaisedAt: s.RaisedAt, At: at}
	}
	return s, nil
}

// Presence is whether a device has been sending measured data.
type Presence struct {
	LastMeasuredAt time.Time
	Silent         bool
	SilentAt       time.Time // when the silence was declared
}

// Measured folds data measured at `at` into the presence and returns
// DeviceResumed if it ends a silence. Data older than the newest seen
// changes nothing.
func (p Presence) Measured(deviceID string, at time.Time) (Presence, Event) {
	if !at.After(p.LastMeasuredAt) {
		return p, nil // older data (a backlog) says nothing about now
	}
	prev := p.LastMeasuredAt
	p.LastMeasuredAt = at
	if p.Silent {
		p.Silent = false
		return p, DeviceResumed{DeviceID: deviceID, SilentSince: prev, MeasuredAt: at, At: at}
	}
	return p, nil
}

// Check returns DeviceWentSilent when no data was measured for longer than
// after, once per silence. A device that never sent data is not silent.
func (p Presence) Check(deviceID string, now time.Time, after time.Duration) (Presence, Event) {
	if p.Silent || p.LastMeasuredAt.IsZero() || now.Sub(p.LastMeasuredAt) < after {
		return p, nil
	}
	p.Silent, p.SilentAt = true, now
	return p, DeviceWentSilent{DeviceID: deviceID, LastMeasuredAt: p.LastMeasuredAt, At: now}
}

// AlertEventKey is the identity of an alert transition: the same transition
// decided twice (a redelivered input, a restart) has the same key, so its
// event id can be derived from it and stored once.
func AlertEventKey(e Event) string {
	switch e := e.(type) {
	case AlertRaised:
		return fmt.Sprintf("%s/%s/raised/%s", e.DeviceID, e.Rule, e.Since.UTC().Format(time.RFC3339Nano))
	case AlertCleared:
		return fmt.Sprintf("%s/%s/cleared/%s", e.DeviceID, e.Rule, e.RaisedAt.UTC().Format(time.RFC3339Nano))
	case DeviceWentSilent:
		return fmt.Sprintf("%s/silent/%s", e.DeviceID, e.LastMeasuredAt.UTC().Format(time.RFC3339Nano))
	case DeviceResumed:
		return fmt.Sprintf("%s/resumed/%s", e.DeviceID, e.SilentSince.UTC().Format(time.RFC3339Nano))
	}
	return ""
}
