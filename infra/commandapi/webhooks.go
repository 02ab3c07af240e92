package commandapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// WebhookLog serves the endpoints as the delivery process sees them, and
// an endpoint's delivery log (ok is false when no endpoint, or a removed
// one, has that id).
type WebhookLog interface {
	List(ctx context.Context) ([]commands.WebhookSummary, error)
	Deliveries(ctx context.Context, id string, limit int) (_ []commands.WebhookAttempt, ok bool, _ error)
}

// webhookBody is POST /v1/webhooks's body.
type webhookBody struct {
	URL     string   `json:"url"`
	Secret  string   `json:"secret"`
	Types   []string `json:"types"`
	Devices []string `json:"devices"`
}

// command validates the body as the handler will (so a fuzzer can judge
// the decoder and the rules together) and returns the command to send.
func (b webhookBody) command(caller commands.Caller, id string) (*commands.RegisterWebhook, error) {
	if _, err := domain.NewWebhook(id, b.URL, b.Secret, b.Types, b.Devices); err != nil {
		return nil, err
	}
	return &commands.RegisterWebhook{Caller: caller, ID: id, URL: b.URL, Secret: b.Secret, Types: b.Types, Devices: b.Devices}, nil
}

// registerWebhook registers an alert webhook; the secret is never echoed.
func (a *api) registerWebhook(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body webhookBody
	if !a.decode(w, r, &body) {
		return
	}
	cmd, err := body.command(caller, uuid.Must(uuid.NewV7()).String())
	if err != nil {
		writeError(w, err)
		return
	}
	out, ok := a.send(w, r, cmd)
	if ok {
		w.Header().Set("Location", "/v1/webhooks/"+out.ID)
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"id": out.ID})
	}
}

func (a *api) removeWebhook(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	if _, ok := a.send(w, r, &commands.RemoveWebhook{Caller: caller, ID: mux.Vars(r)["id"]}); ok {
		w.WriteHeader(http.StatusNoContent)
	}
}

// enableWebhook enables a disabled endpoint again; an active one stays as
// it is.
func (a *api) enableWebhook(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	if _, ok := a.send(w, r, &commands.EnableWebhook{Caller: caller, ID: mux.Vars(r)["id"]}); ok {
		w.WriteHeader(http.StatusNoContent)
	}
}

// listWebhooks serves every endpoint not removed, without secrets.
func (a *api) listWebhooks(w http.ResponseWriter, r *http.Request, _ commands.Caller) {
	if a.cfg.Webhooks == nil {
		writeError(w, fmt.Errorf("%w: webhooks are not served by this process", domain.ErrUnavailable))
		return
	}
	hooks, err := a.cfg.Webhooks.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": hooks})
}

// deliveryView is one delivery-log entry as the API shows it.
type deliveryView struct {
	DeliveryID  int64     `json:"delivery_id"`
	EventID     string    `json:"event_id"`
	EventType   string    `json:"event_type"`
	Attempt     int       `json:"attempt"`
	StatusCode  int       `json:"status_code"`
	Error       string    `json:"error"`
	DurationMS  float64   `json:"duration_ms"`
	AttemptedAt time.Time `json:"attempted_at"`
	Delivered   bool      `json:"delivered"`
}

// webhookDeliveries serves an endpoint's latest attempts, newest first.
func (a *api) webhookDeliveries(w http.ResponseWriter, r *http.Request, _ commands.Caller) {
	if a.cfg.Webhooks == nil {
		writeError(w, fmt.Errorf("%w: the delivery log is not served by this process", domain.ErrUnavailable))
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, &domain.ValidationError{Index: -1, Field: "limit", Reason: "must be a whole number from 1 to 1000"})
			return
		}
		limit = n
	}
	id := mux.Vars(r)["id"]
	if !domain.ValidWebhookID(id) {
		writeError(w, fmt.Errorf("webhook %q: %w", id, domain.ErrWebhookNotFound))
		return
	}
	log, ok, err := a.cfg.Webhooks.Deliveries(r.Context(), id, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	if !ok {
		writeError(w, fmt.Errorf("webhook %q: %w", id, domain.ErrWebhookNotFound))
		return
	}
	out := make([]deliveryView, len(log))
	for i, d := range log {
		out[i] = deliveryView{DeliveryID: d.DeliveryID, EventID: d.EventID, EventType: d.EventType, Attempt: d.Attempt,
			StatusCode: d.StatusCode, Error: d.Error, DurationMS: float64(d.Duration) / float64(time.Millisecond),
			AttemptedAt: d.At.UTC(), Delivered: d.Delivered}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}
