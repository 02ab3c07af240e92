package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// WebhookTargets checks that a webhook's URL may be called: its host
// resolves only to addresses the SSRF guard allows. A refusal wraps
// domain.ErrInvalid.
type WebhookTargets interface {
	CheckTarget(ctx context.Context, rawURL string) error
}

// RegisterWebhook registers an alert webhook endpoint.
type RegisterWebhook struct {
	Caller  Caller   `json:"caller"`
	ID      string   `json:"id"`
	URL     string   `json:"url"`
	Secret  string   `json:"secret"`
	Types   []string `json:"types,omitempty"`
	Devices []string `json:"devices,omitempty"`
}

// RegisterWebhookHandler lets an operator register an endpoint.
type RegisterWebhookHandler struct {
	store   EventStore
	devices devices
	targets WebhookTargets
	clock   func() time.Time
}

// Handle validates the endpoint, refuses a target the SSRF guard does not
// allow, and records WebhookRegistered in the webhook's own stream (which
// must not exist yet).
func (h RegisterWebhookHandler) Handle(ctx context.Context, cmd *RegisterWebhook) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	w, err := domain.NewWebhook(cmd.ID, cmd.URL, cmd.Secret, cmd.Types, cmd.Devices)
	if err != nil {
		return Outcome{}, err
	}
	if h.targets == nil {
		return Outcome{}, fmt.Errorf("%w: webhook targets cannot be checked in this process", domain.ErrUnavailable)
	}
	if err := h.targets.CheckTarget(ctx, w.URL); err != nil {
		return Outcome{}, err
	}
	data, err := domain.NewEventData(newID(), domain.WebhookRegistered{Webhook: w, RegisteredAt: h.clock().UTC()})
	if err != nil {
		return Outcome{}, err
	}
	res, err := h.store.Append(ctx, domain.WebhookStream(w.ID), domain.NoStream, []domain.EventData{data})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: w.ID, Version: res.NextVersion, Accepted: 1}, nil
}

// RemoveWebhook removes an endpoint: nothing more is sent to it.
type RemoveWebhook struct {
	Caller Caller `json:"caller"`
	ID     string `json:"id"`
}

// RemoveWebhookHandler lets an operator remove an endpoint.
type RemoveWebhookHandler struct {
	store   EventStore
	devices devices
	clock   func() time.Time
}

// Handle records WebhookRemoved; an unknown or removed webhook is
// domain.ErrWebhookNotFound.
func (h RemoveWebhookHandler) Handle(ctx context.Context, cmd *RemoveWebhook) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	s, err := loadWebhook(ctx, h.store, cmd.ID)
	if err != nil {
		return Outcome{}, err
	}
	e, err := s.Remove(cmd.ID, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	v, err := appendWebhookEvent(ctx, h.store, cmd.ID, s.Version, e)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: cmd.ID, Version: v}, nil
}

// EnableWebhook enables a disabled endpoint again.
type EnableWebhook struct {
	Caller Caller `json:"caller"`
	ID     string `json:"id"`
}

// EnableWebhookHandler lets an operator enable a disabled endpoint.
type EnableWebhookHandler struct {
	store   EventStore
	devices devices
	clock   func() time.Time
}

// Handle records WebhookEnabled when the endpoint is disabled; an active
// one is left as it is (Outcome.Accepted 0). An unknown or removed webhook
// is domain.ErrWebhookNotFound.
func (h EnableWebhookHandler) Handle(ctx context.Context, cmd *EnableWebhook) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	s, err := loadWebhook(ctx, h.store, cmd.ID)
	if err != nil {
		return Outcome{}, err
	}
	e, ok, err := s.Enable(cmd.ID, h.clock())
	if err != nil || !ok {
		return Outcome{ID: cmd.ID, Version: s.Version}, err
	}
	v, err := appendWebhookEvent(ctx, h.store, cmd.ID, s.Version, e)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: cmd.ID, Version: v, Accepted: 1}, nil
}

// DisableWebhook is the delivery process's report of a run of failed
// deliveries to an endpoint; it disables the endpoint once the run reaches
// Limit. It is not an operator command and comes from no API.
type DisableWebhook struct {
	ID        string
	Failures  int
	Limit     int
	LastError string
}

// DisableWebhookHandler records WebhookDisabled when the domain says so.
// It is the delivery process's, not a caller's: it is not in Application,
// whose handlers all authorize a caller.
type DisableWebhookHandler struct {
	store EventStore
	clock func() time.Time
}

// NewDisableWebhookHandler builds the handler on a store and clock.
func NewDisableWebhookHandler(store EventStore, clock func() time.Time) DisableWebhookHandler {
	return DisableWebhookHandler{store: store, clock: clock}
}

// Handle returns whether the endpoint is now disabled (by this call or an
// earlier one); a removed or unknown one is reported as not found.
func (h DisableWebhookHandler) Handle(ctx context.Context, cmd DisableWebhook) (bool, error) {
	s, err := loadWebhook(ctx, h.store, cmd.ID)
	if err != nil {
		return false, err
	}
	if s.Disabled {
		return true, nil
	}
	e, ok := s.Disable(cmd.ID, cmd.Failures, cmd.Limit, cmd.LastError, h.clock())
	if !ok {
		return false, nil
	}
	if _, err := appendWebhookEvent(ctx, h.store, cmd.ID, s.Version, e); err != nil {
		return false, err
	}
	return true, nil
}

func loadWebhook(ctx context.Context, store EventStore, id string) (domain.WebhookState, error) {
	if !domain.ValidWebhookID(id) {
		return domain.WebhookState{}, fmt.Errorf("webhook %q: %w", id, domain.ErrWebhookNotFound)
	}
	recs, err := store.ReadStream(ctx, domain.WebhookStream(id))
	if err != nil {
		return domain.WebhookState{}, fmt.Errorf("load webhook %q: %w", id, err)
	}
	s, err := domain.FoldWebhook(recs)
	if err != nil {
		return s, fmt.Errorf("load webhook %q: %w", id, err)
	}
	if !s.Registered || s.Removed {
		return s, fmt.Errorf("webhook %q: %w", id, domain.ErrWebhookNotFound)
	}
	return s, nil
}

func appendWebhookEvent(ctx context.Context, store EventStore, id string, expected int64, e domain.Event) (int64, error) {
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return 0, err
	}
	res, err := store.Append(ctx, domain.WebhookStream(id), expected, []domain.EventData{data})
	if err != nil {
		return 0, err
	}
	return res.NextVersion, nil
}

// WebhookDelivery is one alert event queued for one endpoint in the outbox.
type WebhookDelivery struct {
	ID            int64 // outbox sequence, in dispatch order per endpoint
	WebhookID     string
	EventID       string
	EventType     string
	Payload       []byte
	Attempts      int       // failed attempts so far
	NextAttemptAt time.Time // not before
}

// WebhookAttempt is one entry of an endpoint's delivery log.
type WebhookAttempt struct {
	WebhookID  string        `json:"-"`
	DeliveryID int64         `json:"delivery_id"`
	EventID    string        `json:"event_id"`
	EventType  string        `json:"event_type"`
	Attempt    int           `json:"attempt"`
	StatusCode int           `json:"status_code,omitempty"` // 0: no response
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"-"`
	At         time.Time     `json:"attempted_at"`
	Delivered  bool          `json:"delivered"`
}

// WebhookSummary is an endpoint as an operator lists it: never its secret.
type WebhookSummary struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Types     []string  `json:"types"`
	Devices   []string  `json:"devices"`
	State     string    `json:"state"`    // active or disabled
	Failures  int       `json:"failures"` // failed attempts in a row
	Queued    int64     `json:"queued"`   // deliveries waiting to be sent
	UpdatedAt time.Time `json:"updated_at"`
}

// WebhookEndpoint is an endpoint as the delivery workers see it.
type WebhookEndpoint struct {
	domain.Webhook
	Active   bool // neither disabled nor removed
	Failures int  // failed attempts in a row
}
