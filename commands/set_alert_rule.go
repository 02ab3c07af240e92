package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// SetAlertRule sets (or replaces, by name) a per-device alert threshold.
type SetAlertRule struct {
	Caller   Caller        `json:"caller"`
	DeviceID string        `json:"device_id"`
	Rule     string        `json:"rule"`
	Type     string        `json:"type"`
	Above    float64       `json:"above"`
	For      time.Duration `json:"for"`
}

// SetAlertRuleHandler lets an operator set an alert rule on a known device.
type SetAlertRuleHandler struct {
	devices devices
	clock   func() time.Time
}

// Handle lets an operator set a rule on a known device; the rule is stored
// in the device's alert stream, where the alert evaluator reads it.
func (h SetAlertRuleHandler) Handle(ctx context.Context, cmd *SetAlertRule) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	e, err := domain.SetAlertRule(domain.AlertRule{DeviceID: cmd.DeviceID, Name: cmd.Rule, Type: cmd.Type, Above: cmd.Above, For: cmd.For}, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	if _, err := h.devices.load(ctx, cmd.DeviceID); err != nil {
		return Outcome{}, err
	}
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return Outcome{}, err
	}
	res, err := h.devices.store.Append(ctx, domain.AlertStream(cmd.DeviceID), domain.AnyVersion, []domain.EventData{data})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: cmd.Rule, Version: res.NextVersion, Accepted: 1}, nil
}
