package webhooktest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/webhookstore"
	"github.com/fleetpulse/fleetpulse/infra/service"
	"github.com/fleetpulse/fleetpulse/infra/webhook"
)

// harness is a database with the webhook processes running on it.
type harness struct {
	t       testing.TB
	store   *eventstore.Store
	hooks   *webhookstore.Store
	app     commands.Application
	metrics *prometheus.Registry
	start   func() (stop func())
	stop    *func()
}

type settings struct {
	disableAfter int
	timeout      time.Duration
	retryMin     time.Duration
	allow        string // default: loopback
	pollInterval time.Duration
	logger       *slog.Logger
}

func newHarness(t testing.TB, s settings) *harness {
	t.Helper()
	pool, _ := pgtest.NewDatabase(t)
	if s.allow == "" {
		s.allow = "127.0.0.0/8,::1"
	}
	if s.disableAfter == 0 {
		s.disableAfter = 1000
	}
	if s.timeout == 0 {
		s.timeout = 10 * time.Second
	}
	if s.retryMin == 0 {
		s.retryMin = 20 * time.Millisecond
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := config.Config{WebhookAllow: s.allow, WebhookDisableAfter: s.disableAfter, WebhookTimeout: s.timeout,
		WebhookRetryMin: s.retryMin, WebhookRetryMax: 50 * s.retryMin}
	guard, err := service.WebhookGuard(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.pollInterval == 0 {
		s.pollInterval = 20 * time.Millisecond
	}
	store := eventstore.New(pool, eventstore.Config{PollInterval: s.pollInterval})
	t.Cleanup(store.Close)
	h := &harness{t: t, store: store, hooks: webhookstore.New(pool),
		app: commands.NewApplication(store, time.Now, domain.DefaultTelemetryPolicy).WithWebhookTargets(guard)}
	h.metrics = prometheus.NewRegistry()
	observe := service.WebhookMetrics(h.metrics)
	h.start = func() (stop func()) {
		w := service.NewWebhooks(cfg, store, h.hooks, guard, s.logger, observe)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("webhooks: %v", err)
			}
		}
	}
	stop := h.start()
	h.stop = &stop
	t.Cleanup(func() { (*h.stop)() })
	return h
}

// restart stops the dispatcher and the delivery workers, as a crash or a
// deploy would, and starts new ones on the same database.
func (h *harness) restart() {
	(*h.stop)()
	*h.stop = h.start()
}

// register registers an endpoint as an operator would.
func (h *harness) register(url, secret string, types, devices []string) string {
	h.t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	_, err := h.app.RegisterWebhook.Handle(context.Background(), &commands.RegisterWebhook{Caller: commands.Caller{Admin: true},
		ID: id, URL: url, Secret: secret, Types: types, Devices: devices})
	if err != nil {
		h.t.Fatalf("register %s: %v", url, err)
	}
	return id
}

// raise appends an alert of device to the log, as the alert evaluator
// would, and returns its event id.
func (h *harness) raise(device string, e domain.Event) string {
	h.t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	data, err := domain.NewEventData(id, e)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.store.Append(context.Background(), domain.AlertStream(device), domain.AnyVersion, []domain.EventData{data}); err != nil {
		h.t.Fatalf("append alert: %v", err)
	}
	return id
}

func raised(device string, at time.Time) domain.AlertRaised {
	return domain.AlertRaised{DeviceID: device, Rule: "pm25-high", Type: "pm25", Threshold: 35, Value: 50, Since: at, At: at}
}

func cleared(device string, at time.Time) domain.AlertCleared {
	return domain.AlertCleared{DeviceID: device, Rule: "pm25-high", Type: "pm25", Threshold: 35, Value: 10, RaisedAt: at.Add(-time.Minute), At: at}
}

// verifySignature is the receiver's check, as docs/webhooks.md shows it:
// the header's t and v1, the HMAC-SHA256 of "<t>.<body>" compared in
// constant time, and t no older than tolerance.
func verifySignature(header string, body []byte, secret string, now time.Time, tolerance time.Duration) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(t, 0)).Abs() > tolerance {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}

// received is one request a receiver got.
type received struct {
	at       time.Time
	payload  domain.WebhookPayload
	verified bool
	delivery string
}

// receiver is an httptest endpoint that verifies every request's
// signature and answers with respond's status.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	arrived chan struct{}
}

func newReceiver(t testing.TB, secret string, respond func(n int) int) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan struct{}, 1)}
	n := 0
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := received{at: time.Now(), delivery: r.Header.Get("Fleetpulse-Delivery"),
			verified: verifySignature(r.Header.Get(webhook.SignatureHeader), body, secret, time.Now(), 5*time.Minute)}
		_ = json.Unmarshal(body, &rec.payload)
		rc.mu.Lock()
		n++
		nth := n
		rc.mu.Unlock()
		status := respond(nth) // may block (a slow endpoint): outside the lock
		rc.mu.Lock()
		if status < 300 {
			rc.got = append(rc.got, rec)
		}
		rc.mu.Unlock()
		select {
		case rc.arrived <- struct{}{}:
		default:
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) accepted() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func always(status int) func(int) int { return func(int) int { return status } }

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
