package domain

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pm25Rule() AlertRule {
	return AlertRule{DeviceID: "s1", Name: "pm25-high", Type: "pm25", Above: 35, For: 10 * time.Minute}
}

// feed sends one value per minute and returns the events it caused.
func feed(r AlertRule, s RuleState, start time.Time, values ...float64) (RuleState, []Event) {
	var out []Event
	for i, v := range values {
		var e Event
		s, e = r.Observe(s, v, start.Add(time.Duration(i)*time.Minute))
		if e != nil {
			out = append(out, e)
		}
	}
	return s, out
}

func TestAlertRule_HeldForItsDurationRaisesOnceAndClearsBelow(t *testing.T) {
	r := pm25Rule()
	values := []float64{40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 30}
	_, events := feed(r, RuleState{}, t0, values...)
	if len(events) != 2 {
		t.Fatalf("events = %v, want raised then cleared", events)
	}
	raised, ok := events[0].(AlertRaised)
	if !ok || !raised.Since.Equal(t0) || !raised.At.Equal(t0.Add(10*time.Minute)) || raised.Value != 50 || raised.Threshold != 35 {
		t.Fatalf("raised = %+v", events[0])
	}
	cleared, ok := events[1].(AlertCleared)
	if !ok || !cleared.RaisedAt.Equal(t0) || cleared.Value != 30 {
		t.Fatalf("cleared = %+v", events[1])
	}
}

func TestAlertRule_FlappingShorterThanItsDurationRaisesNothing(t *testing.T) {
	r := pm25Rule()
	var values []float64
	for i := 0; i < 60; i++ {
		if i%9 == 8 {
			values = append(values, 20)
		} else {
			values = append(values, 80)
		}
	}
	if _, events := feed(r, RuleState{}, t0, values...); len(events) != 0 {
		t.Fatalf("events = %v, want none", events)
	}
}

func TestAlertRule_OlderValuesChangeNothing(t *testing.T) {
	r := pm25Rule()
	s, _ := feed(r, RuleState{}, t0, 40, 40)
	s2, e := r.Observe(s, 10, t0.Add(-time.Hour))
	if e != nil || s2 != s {
		t.Fatalf("an older value changed the state: %+v %v", s2, e)
	}
}

func TestPresence_SilenceIsDeclaredOnceAndDataResumes(t *testing.T) {
	var p Presence
	if _, e := p.Check("s1", t0, 10*time.Minute); e != nil {
		t.Fatalf("a device that never sent data went silent: %v", e)
	}
	p, _ = p.Measured("s1", t0)
	if _, e := p.Check("s1", t0.Add(9*time.Minute), 10*time.Minute); e != nil {
		t.Fatalf("silent too early: %v", e)
	}
	p, e := p.Check("s1", t0.Add(11*time.Minute), 10*time.Minute)
	silent, ok := e.(DeviceWentSilent)
	if !ok || !silent.LastMeasuredAt.Equal(t0) {
		t.Fatalf("went silent = %+v", e)
	}
	if _, e := p.Check("s1", t0.Add(20*time.Minute), 10*time.Minute); e != nil {
		t.Fatalf("silence declared twice: %v", e)
	}
	p, e = p.Measured("s1", t0.Add(21*time.Minute))
	resumed, ok := e.(DeviceResumed)
	if !ok || !resumed.SilentSince.Equal(t0) || p.Silent {
		t.Fatalf("resumed = %+v", e)
	}
	if AlertEventKey(resumed) == AlertEventKey(silent) {
		t.Fatal("silence and resumption share a key")
	}
}

func TestSetAlertRule_ValidatesTheRule(t *testing.T) {
	if _, err := SetAlertRule(AlertRule{DeviceID: "s1", Name: "bad name", Type: "pm25"}, t0); err == nil {
		t.Fatal("a rule name with a space was accepted")
	}
	if _, err := SetAlertRule(AlertRule{DeviceID: "s1", Name: "x", Type: "pm25", For: -time.Second}, t0); err == nil {
		t.Fatal("a negative duration was accepted")
	}
	e, err := SetAlertRule(pm25Rule(), t0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := NewEventData("id", e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEvent(data.Type, data.Data)
	if err != nil || back.(AlertRuleSet).For != 10*time.Minute {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}
