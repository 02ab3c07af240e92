package domain

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhook event types.
const (
	TypeWebhookRegistered = "WebhookRegistered"
	TypeWebhookRemoved    = "WebhookRemoved"
	TypeWebhookDisabled   = "WebhookDisabled"
	TypeWebhookEnabled    = "WebhookEnabled"
)

// WebhookStream names the stream of one webhook endpoint's events.
func WebhookStream(id string) string { return "webhook-" + id }

// WebhookEventTypes are the log events a webhook can subscribe to.
var WebhookEventTypes = []string{TypeAlertRaised, TypeAlertCleared}

// Webhook is an operator's endpoint: where alerts are posted, the secret
// they are signed with, and which of them it wants (empty: all).
type Webhook struct {
	ID      string   `json:"webhook_id"`
	URL     string   `json:"url"`
	Secret  string   `json:"secret"` // stored as given: deliveries are signed with it
	Types   []string `json:"types,omitempty"`
	Devices []string `json:"devices,omitempty"`
}

// Webhook limits.
const (
	webhookMinSecret = 16
	webhookMaxSecret = 256
	webhookMaxURL    = 2048
	webhookMaxFilter = 1000
)

// NewWebhook validates an endpoint. It checks the URL's form only; whether
// its host may be reached is the SSRF guard's business (infra/webhook).
func NewWebhook(id, rawURL, secret string, types, devices []string) (Webhook, error) {
	if !ValidWebhookID(id) {
		return Webhook{}, invalid("id", "must be 1-128 printable characters")
	}
	if len(rawURL) > webhookMaxURL {
		return Webhook{}, invalid("url", fmt.Sprintf("must be at most %d characters", webhookMaxURL))
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return Webhook{}, invalid("url", "must be an absolute http or https URL without user info or fragment")
	}
	if len(secret) < webhookMinSecret || len(secret) > webhookMaxSecret {
		return Webhook{}, invalid("secret", fmt.Sprintf("must be %d-%d characters", webhookMinSecret, webhookMaxSecret))
	}
	if len(types) > len(WebhookEventTypes) {
		return Webhook{}, invalid("types", "lists a type twice")
	}
	for _, t := range types {
		if !slices.Contains(WebhookEventTypes, t) {
			return Webhook{}, invalid("types", fmt.Sprintf("%q is none of %s", t, strings.Join(WebhookEventTypes, ", ")))
		}
	}
	if len(devices) > webhookMaxFilter {
		return Webhook{}, invalid("devices", fmt.Sprintf("must list at most %d devices", webhookMaxFilter))
	}
	for _, d := range devices {
		if strings.TrimSpace(d) == "" {
			return Webhook{}, invalid("devices", "must not hold an empty id")
		}
	}
	return Webhook{ID: id, URL: rawURL, Secret: secret, Types: slices.Clone(types), Devices: slices.Clone(devices)}, nil
}

// ValidWebhookID reports whether id can name a webhook: 1-128 printable
// characters, none of them a space or a slash.
func ValidWebhookID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == '/' || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// Wants reports whether the endpoint subscribes to an event of eventType
// about device.
func (w Webhook) Wants(eventType, device string) bool {
	if !slices.Contains(WebhookEventTypes, eventType) {
		return false
	}
	if len(w.Types) > 0 && !slices.Contains(w.Types, eventType) {
		return false
	}
	return len(w.Devices) == 0 || slices.Contains(w.Devices, device)
}

// WebhookRegistered records an operator's endpoint, secret included.
type WebhookRegistered struct {
	Webhook
	RegisteredAt time.Time `json:"registered_at"`
}

// WebhookRemoved: the operator removed the endpoint; nothing more is sent.
type WebhookRemoved struct {
	WebhookID string    `json:"webhook_id"`
	RemovedAt time.Time `json:"removed_at"`
}

// WebhookDisabled: deliveries to the endpoint failed Failures times in a
// row, the configured limit; nothing more is sent to it.
type WebhookDisabled struct {
	WebhookID  string    `json:"webhook_id"`
	Failures   int       `json:"failures"`
	LastError  string    `json:"last_error"`
	DisabledAt time.Time `json:"disabled_at"`
}

// WebhookEnabled: an operator enabled a disabled endpoint again; the
// deliveries kept since it was disabled are sent first, then new alerts.
// Alerts raised while it was disabled are not queued for it.
type WebhookEnabled struct {
	WebhookID string    `json:"webhook_id"`
	EnabledAt time.Time `json:"enabled_at"`
}

func (WebhookRegistered) EventType() string { return TypeWebhookRegistered }
func (WebhookRemoved) EventType() string    { return TypeWebhookRemoved }
func (WebhookDisabled) EventType() string   { return TypeWebhookDisabled }
func (WebhookEnabled) EventType() string    { return TypeWebhookEnabled }

// WebhookState is where an endpoint stands, folded from its stream.
type WebhookState struct {
	Registered bool
	Removed    bool
	Disabled   bool
	Version    int64
}

// FoldWebhook folds a webhook stream's events.
func FoldWebhook(events []RecordedEvent) (WebhookState, error) {
	s := WebhookState{Version: NoStream}
	for _, r := range events {
		e, err := r.Decode()
		if err != nil {
			return s, err
		}
		switch e.(type) {
		case WebhookRegistered:
			s.Registered = true
		case WebhookRemoved:
			s.Removed = true
		case WebhookDisabled:
			s.Disabled = true
		case WebhookEnabled:
			s.Disabled = false
		}
		s.Version = r.StreamVersion
	}
	return s, nil
}

// Remove decides an operator's removal.
func (s WebhookState) Remove(id string, now time.Time) (WebhookRemoved, error) {
	if !s.Registered || s.Removed {
		return WebhookRemoved{}, fmt.Errorf("webhook %q: %w", id, ErrWebhookNotFound)
	}
	return WebhookRemoved{WebhookID: id, RemovedAt: now.UTC()}, nil
}

// Enable decides an operator's enabling: an unknown or removed endpoint is
// ErrWebhookNotFound; ok is false when the endpoint is not disabled (there
// is nothing to record: enabling is idempotent).
func (s WebhookState) Enable(id string, now time.Time) (_ WebhookEnabled, ok bool, _ error) {
	if !s.Registered || s.Removed {
		return WebhookEnabled{}, false, fmt.Errorf("webhook %q: %w", id, ErrWebhookNotFound)
	}
	if !s.Disabled {
		return WebhookEnabled{}, false, nil
	}
	return WebhookEnabled{WebhookID: id, EnabledAt: now.UTC()}, true, nil
}

// Disable decides whether a run of failures disables the endpoint: only
// once the run reaches limit (> 0), and only an endpoint still active. ok
// is false when there is nothing to record.
func (s WebhookState) Disable(id string, failures, limit int, lastErr string, now time.Time) (WebhookDisabled, bool) {
	if !s.Registered || s.Removed || s.Disabled || limit <= 0 || failures < limit {
		return WebhookDisabled{}, false
	}
	if len(lastErr) > 500 {
		lastErr = lastErr[:500]
	}
	return WebhookDisabled{WebhookID: id, Failures: failures, LastError: lastErr, DisabledAt: now.UTC()}, true
}

// WebhookPayload is the JSON body posted to an endpoint for one alert
// event of the log: the event's id (consumers drop repeats by it), type,
// log position, device, when it was recorded, and the event itself.
type WebhookPayload struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Position   string          `json:"position"`
	DeviceID   string          `json:"device_id"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
}

// AlertDevice names the device an alert event of the log is about, false
// for events webhooks do not carry.
func AlertDevice(r RecordedEvent) (string, bool) {
	if !slices.Contains(WebhookEventTypes, r.Type) {
		return "", false
	}
	var d struct {
		DeviceID string `json:"device_id"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil || d.DeviceID == "" {
		return "", false
	}
	return d.DeviceID, true
}

// NewWebhookPayload encodes the body of an alert event's delivery.
func NewWebhookPayload(r RecordedEvent, device string) ([]byte, error) {
	return json.Marshal(WebhookPayload{ID: r.ID, Type: r.Type, Position: r.Position.String(), DeviceID: device,
		RecordedAt: r.RecordedAt.UTC(), Data: r.Data})
}
