package commands_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

func TestSetAlertRule_AnOperatorSetsARuleOnAKnownStation(t *testing.T) {
	f := newFixture(t)
	cmd := &commands.SetAlertRule{Caller: operator, DeviceID: stationA, Rule: "pm25-high", Type: "pm25", Above: 35, For: 10 * time.Minute}
	out := f.must(f.app.SetAlertRule.Handle(f.ctx, cmd))
	if out.ID != "pm25-high" || out.Version != 0 || out.Accepted != 1 {
		t.Fatalf("outcome %+v, want pm25-high accepted at version 0", out)
	}
	got := f.decoded(domain.AlertStream(stationA))
	want := domain.AlertRuleSet{AlertRule: domain.AlertRule{DeviceID: stationA, Name: "pm25-high", Type: "pm25", Above: 35, For: 10 * time.Minute}, SetAt: now}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("alert stream holds %+v, want [%+v]", got, want)
	}
}

// TestSetAlertRule_ALaterRuleOfTheSameNameIsAppended: the alert stream
// keeps every rule set; the evaluator takes the last one of a name.
func TestSetAlertRule_ALaterRuleOfTheSameNameIsAppended(t *testing.T) {
	f := newFixture(t)
	for i, above := range []float64{35, 50} {
		out := f.must(f.app.SetAlertRule.Handle(f.ctx, &commands.SetAlertRule{Caller: operator, DeviceID: vehicleA, Rule: "hot", Type: "engine_temp", Above: above}))
		if out.Version != int64(i) {
			t.Fatalf("rule %d stored at version %d", i, out.Version)
		}
	}
	if got := f.decoded(domain.AlertStream(vehicleA)); len(got) != 2 || got[1].(domain.AlertRuleSet).Above != 50 {
		t.Fatalf("alert stream holds %+v, want both rules, the last above 50", got)
	}
}

// TestSetAlertRule_IsRefusedToCallersOtherThanOperatorsAndForUnknownDevicesOrBadRules:
// nothing is stored for any of these.
func TestSetAlertRule_IsRefusedToCallersOtherThanOperatorsAndForUnknownDevicesOrBadRules(t *testing.T) {
	valid := commands.SetAlertRule{Caller: operator, DeviceID: stationA, Rule: "pm25-high", Type: "pm25", Above: 35, For: 10 * time.Minute}
	for _, tc := range []struct {
		name   string
		mutate func(*commands.SetAlertRule)
		want   error
		field  string // of a validation error
	}{
		{"an anonymous caller", func(c *commands.SetAlertRule) { c.Caller = commands.Caller{}; c.Rule = "x" }, domain.ErrUnauthenticated, ""},
		{"the station itself", func(c *commands.SetAlertRule) { c.Caller = device(stationA) }, domain.ErrForbidden, ""},
		{"an unknown device", func(c *commands.SetAlertRule) { c.DeviceID = "nope" }, domain.ErrDeviceNotFound, ""},
		{"no device", func(c *commands.SetAlertRule) { c.DeviceID = "" }, domain.ErrInvalid, "device_id"},
		{"no rule name", func(c *commands.SetAlertRule) { c.Rule = "" }, domain.ErrInvalid, "rule"},
		{"a rule name with a space", func(c *commands.SetAlertRule) { c.Rule = "pm25 high" }, domain.ErrInvalid, "rule"},
		{"no type", func(c *commands.SetAlertRule) { c.Type = " " }, domain.ErrInvalid, "type"},
		{"a negative duration", func(c *commands.SetAlertRule) { c.For = -time.Second }, domain.ErrInvalid, "for"},
		{"a duration over a week", func(c *commands.SetAlertRule) { c.For = 7*24*time.Hour + time.Second }, domain.ErrInvalid, "for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			cmd := valid
			tc.mutate(&cmd)
			err := f.refused(tc.want, func() (commands.Outcome, error) { return f.app.SetAlertRule.Handle(f.ctx, &cmd) })
			var ve *domain.ValidationError
			if tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field) {
				t.Fatalf("got %v, want a validation error on %q", err, tc.field)
			}
		})
	}
}
