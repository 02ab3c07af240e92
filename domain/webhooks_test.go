package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

func TestNewWebhook_RefusesWhatCannotBeAnEndpoint(t *testing.T) {
	const secret = "0123456789abcdef"
	tests := []struct {
		name, id, url, secret string
		types, devices        []string
		field                 string // "" = accepted
	}{
		{name: "https with filters", id: "w", url: "https://h.example.com/a?x=1", secret: secret, types: []string{domain.TypeAlertRaised}, devices: []string{"d"}},
		{name: "http", id: "w", url: "http://h.example.com", secret: secret},
		{name: "no id", url: "https://h", secret: secret, field: "id"},
		{name: "id with a slash", id: "a/b", url: "https://h", secret: secret, field: "id"},
		{name: "other scheme", id: "w", url: "ftp://h/", secret: secret, field: "url"},
		{name: "relative", id: "w", url: "/hook", secret: secret, field: "url"},
		{name: "user info", id: "w", url: "https://u:p@h/", secret: secret, field: "url"},
		{name: "fragment", id: "w", url: "https://h/#x", secret: secret, field: "url"},
		{name: "too long", id: "w", url: "https://h/" + strings.Repeat("a", 2048), secret: secret, field: "url"},
		{name: "short secret", id: "w", url: "https://h/", secret: "short", field: "secret"},
		{name: "unknown type", id: "w", url: "https://h/", secret: secret, types: []string{"MeasurementRecorded"}, field: "types"},
		{name: "empty device", id: "w", url: "https://h/", secret: secret, devices: []string{" "}, field: "devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := domain.NewWebhook(tt.id, tt.url, tt.secret, tt.types, tt.devices)
			var ve *domain.ValidationError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field):
				t.Fatalf("got %v, want a refusal of %s", err, tt.field)
			}
		})
	}
}

func TestWebhook_WantsOnlyAlertsItsFiltersName(t *testing.T) {
	w := domain.Webhook{Types: []string{domain.TypeAlertCleared}, Devices: []string{"d1"}}
	all := domain.Webhook{}
	tests := []struct {
		hook      domain.Webhook
		typ, dev  string
		wantsThem bool
	}{
		{all, domain.TypeAlertRaised, "any", true},
		{all, domain.TypeMeasurementsRecorded, "any", false},
		{all, domain.TypeWebhookRegistered, "any", false},
		{w, domain.TypeAlertCleared, "d1", true},
		{w, domain.TypeAlertRaised, "d1", false},
		{w, domain.TypeAlertCleared, "d2", false},
	}
	for _, tt := range tests {
		if got := tt.hook.Wants(tt.typ, tt.dev); got != tt.wantsThem {
			t.Errorf("%+v wants %s of %s = %v", tt.hook, tt.typ, tt.dev, got)
		}
	}
}

func TestWebhookState_DisablesOnceWhenTheRunReachesTheLimit(t *testing.T) {
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	active := domain.WebhookState{Registered: true}
	if _, ok := active.Disable("w", 2, 3, "boom", now); ok {
		t.Error("disabled below the limit")
	}
	e, ok := active.Disable("w", 3, 3, "boom", now)
	if !ok || e.Failures != 3 || e.LastError != "boom" || !e.DisabledAt.Equal(now) {
		t.Errorf("at the limit: %+v %v", e, ok)
	}
	for _, s := range []domain.WebhookState{{Registered: true, Disabled: true}, {Registered: true, Removed: true}, {}} {
		if _, ok := s.Disable("w", 9, 3, "boom", now); ok {
			t.Errorf("%+v disabled again", s)
		}
	}
	if _, err := (domain.WebhookState{Registered: true, Removed: true}).Remove("w", now); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("removing a removed webhook: %v", err)
	}
}
