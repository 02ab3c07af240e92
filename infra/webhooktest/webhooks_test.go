package webhooktest

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/metrics/metricstest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/webhookstore"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

const secret = "whsec-0123456789abcdef"

func TestWebhooks_ReceiverVerifiesEverySignedAlertItsFiltersMatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{})
	all := newReceiver(t, secret, always(200))
	filtered := newReceiver(t, "another-secret-0123", always(204))
	h.register(all.URL+"/hook", secret, nil, nil)
	h.register(filtered.URL, "another-secret-0123", []string{domain.TypeAlertCleared}, []string{"dev-2"})

	at := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	ids := []string{h.raise("dev-1", raised("dev-1", at)), h.raise("dev-2", raised("dev-2", at)), h.raise("dev-2", cleared("dev-2", at))}
	eventually(t, 5*time.Second, "every alert at the unfiltered endpoint", func() bool { return len(all.accepted()) == 3 })
	eventually(t, 5*time.Second, "the one matching alert at the filtered endpoint", func() bool { return len(filtered.accepted()) == 1 })

	for i, r := range all.accepted() {
		if !r.verified {
			t.Errorf("delivery %d: signature does not verify", i)
		}
		if r.payload.ID != ids[i] {
			t.Errorf("delivery %d is event %s, want %s (log order)", i, r.payload.ID, ids[i])
		}
		if r.payload.Position == "" || r.payload.RecordedAt.IsZero() || len(r.payload.Data) == 0 {
			t.Errorf("delivery %d lacks position, time or data: %+v", i, r.payload)
		}
	}
	if got := filtered.accepted()[0]; !got.verified || got.payload.ID != ids[2] || got.payload.Type != domain.TypeAlertCleared || got.payload.DeviceID != "dev-2" {
		t.Errorf("filtered endpoint got %+v, want the verified AlertCleared of dev-2", got)
	}
}

func TestWebhooks_RegistrationRefusesLoopbackWithoutTheAllowList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{allow: "192.0.2.1"}) // allows something else only
	_, err := h.app.RegisterWebhook.Handle(t.Context(), &commands.RegisterWebhook{Caller: commands.Caller{Admin: true},
		ID: "w-1", URL: "http://localhost:8080/hook", Secret: secret})
	if !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("localhost registered: %v", err)
	}
	recs, _ := h.store.ReadStream(t.Context(), domain.WebhookStream("w-1"))
	if len(recs) != 0 {
		t.Fatalf("a refused webhook was recorded: %d events", len(recs))
	}
}

func TestWebhooks_FailedDeliveriesAreRetriedUntilTheyGoThrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{retryMin: 20 * time.Millisecond})
	rc := newReceiver(t, secret, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	id := h.register(rc.URL, secret, nil, nil)
	ev := h.raise("dev-1", raised("dev-1", time.Now()))
	eventually(t, 5*time.Second, "the delivery after two failures", func() bool { return len(rc.accepted()) == 1 })

	var log []commands.WebhookAttempt
	eventually(t, 2*time.Second, "three attempts in the delivery log", func() bool {
		var err error
		log, _, err = h.hooks.Deliveries(t.Context(), id, 10)
		return err == nil && len(log) == 3
	})
	for i, want := range []struct {
		attempt, status int
		delivered       bool
	}{{3, 200, true}, {2, 503, false}, {1, 503, false}} { // newest first
		a := log[i]
		if a.EventID != ev || a.Attempt != want.attempt || a.StatusCode != want.status || a.Delivered != want.delivered || (a.Error == "") == !want.delivered {
			t.Errorf("log[%d] = %+v, want attempt %d status %d delivered %v", i, a, want.attempt, want.status, want.delivered)
		}
	}
	if !log[0].At.After(log[1].At) || !log[1].At.After(log[2].At) {
		t.Errorf("attempts not spaced in time: %v %v %v", log[2].At, log[1].At, log[0].At)
	}
	for outcome, want := range map[string]float64{"failed": 2, "delivered": 1} {
		if got, _ := metricstest.Value(t, h.metrics, "fleetpulse_webhook_attempts_total", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("fleetpulse_webhook_attempts_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// TestWebhooks_AQueuedDeliverySurvivesARestart: the delivery failed and
// waits for its retry in the outbox when the processes stop; new ones send
// it once the endpoint is back, and the log shows both attempts.
func TestWebhooks_AQueuedDeliverySurvivesARestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{retryMin: 300 * time.Millisecond})
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, secret, func(int) int {
		if down.Load() {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	id := h.register(rc.URL, secret, nil, nil)
	ev := h.raise("dev-1", raised("dev-1", time.Now()))
	eventually(t, 5*time.Second, "a failed first attempt", func() bool {
		log, _, _ := h.hooks.Deliveries(t.Context(), id, 10)
		return len(log) >= 1
	})
	h.restart()
	down.Store(false)
	eventually(t, 5*time.Second, "the delivery after the restart", func() bool { return len(rc.accepted()) == 1 })
	if got := rc.accepted()[0]; got.payload.ID != ev || !got.verified {
		t.Fatalf("after the restart: %+v", got)
	}
	eventually(t, 2*time.Second, "a delivered attempt in the log", func() bool {
		log, _, _ := h.hooks.Deliveries(t.Context(), id, 10)
		return len(log) >= 2 && log[0].Delivered && !log[len(log)-1].Delivered
	})
}

func TestWebhooks_ARunOfFailuresDisablesTheEndpointWithAnEvent(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	h := newHarness(t, settings{disableAfter: 3, retryMin: 10 * time.Millisecond,
		logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	dead := newReceiver(t, secret, always(http.StatusInternalServerError))
	id := h.register(dead.URL, secret, nil, nil)
	h.raise("dev-1", raised("dev-1", time.Now()))
	h.raise("dev-2", raised("dev-2", time.Now()))

	var disabled domain.WebhookDisabled
	eventually(t, 5*time.Second, "WebhookDisabled in the webhook's stream", func() bool {
		recs, err := h.store.ReadStream(t.Context(), domain.WebhookStream(id))
		if err != nil {
			return false
		}
		for _, r := range recs {
			if e, err := r.Decode(); err == nil {
				if d, ok := e.(domain.WebhookDisabled); ok {
					disabled = d
					return true
				}
			}
		}
		return false
	})
	if disabled.Failures != 3 || disabled.LastError == "" {
		t.Errorf("WebhookDisabled = %+v, want 3 failures and the last error", disabled)
	}
	eventually(t, 2*time.Second, "the endpoint projected as disabled", func() bool {
		ep, ok, err := h.hooks.Endpoint(t.Context(), id)
		return err == nil && ok && !ep.Active
	})
	// Nothing more is attempted, not even for a new alert.
	h.raise("dev-1", cleared("dev-1", time.Now()))
	time.Sleep(200 * time.Millisecond)
	log, _, _ := h.hooks.Deliveries(t.Context(), id, 100)
	if len(log) != 3 {
		t.Errorf("%d attempts after disabling at 3", len(log))
	}
	if out := logs.String(); !strings.Contains(out, "webhook disabled") || strings.Contains(out, secret) {
		t.Errorf("the log should tell of the disabling and never hold the secret:\n%s", out)
	}
}

// TestWebhooks_AnEnabledEndpointGetsWhatWasKeptAndWhatComesAfter: a run
// of failures disables the endpoint with two deliveries kept; an operator
// enables it once it is up again: the kept two arrive, the alert recorded
// while it was disabled does not, the next one does; the list shows it
// active with no failures.
func TestWebhooks_AnEnabledEndpointGetsWhatWasKeptAndWhatComesAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{disableAfter: 2, retryMin: 10 * time.Millisecond})
	var up atomic.Bool
	rc := newReceiver(t, secret, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	id := h.register(rc.URL, secret, nil, nil)
	kept := []string{h.raise("dev-1", raised("dev-1", time.Now())), h.raise("dev-2", raised("dev-2", time.Now()))}
	eventually(t, 5*time.Second, "the endpoint disabled", func() bool {
		ep, ok, err := h.hooks.Endpoint(t.Context(), id)
		return err == nil && ok && !ep.Active
	})
	missed := h.raise("dev-1", cleared("dev-1", time.Now()))
	up.Store(true)
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.accepted()); n != 0 {
		t.Fatalf("a disabled endpoint got %d deliveries", n)
	}
	if _, err := h.app.EnableWebhook.Handle(t.Context(), &commands.EnableWebhook{Caller: commands.Caller{Admin: true}, ID: id}); err != nil {
		t.Fatal(err)
	}
	after := h.raise("dev-2", cleared("dev-2", time.Now()))
	eventually(t, 5*time.Second, "the kept deliveries and the new one", func() bool { return len(rc.accepted()) >= 3 })
	time.Sleep(100 * time.Millisecond)
	var got []string
	for _, a := range rc.accepted() {
		if !a.verified {
			t.Errorf("delivery %s not verified", a.payload.ID)
		}
		got = append(got, a.payload.ID)
	}
	want := append(slices.Clone(kept), after)
	if !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v (not %s, recorded while disabled)", got, want, missed)
	}
	// Delivered attempts are committed together a moment later.
	var list []commands.WebhookSummary
	eventually(t, 2*time.Second, "the endpoint listed active with nothing queued", func() bool {
		var err error
		list, err = h.hooks.List(t.Context())
		return err == nil && len(list) == 1 && list[0].Queued == 0
	})
	if list[0].ID != id || list[0].State != "active" || list[0].Failures != 0 {
		t.Errorf("list after enabling: %+v", list)
	}
}

// syncBuffer is a bytes.Buffer that goroutines may write to at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWebhooks_ASlowEndpointDoesNotDelayAHealthyOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{timeout: 10 * time.Second})
	release := make(chan struct{})
	slow := newReceiver(t, secret, func(int) int { <-release; return 200 })
	defer close(release) // before the server closes, which waits for its handlers
	healthy := newReceiver(t, secret, always(200))
	h.register(slow.URL, secret, nil, nil)
	h.register(healthy.URL, secret, nil, nil)

	const alerts = 5
	sent := make([]time.Time, alerts)
	for i := range alerts {
		sent[i] = time.Now()
		h.raise("dev-1", raised("dev-1", sent[i]))
		time.Sleep(20 * time.Millisecond)
	}
	// The slow endpoint hangs until the test ends: behind it, the healthy
	// one would get nothing. The bound is loose because events become
	// readable only once every older transaction of the PostgreSQL
	// cluster has ended, and parallel tests migrate databases meanwhile.
	eventually(t, 5*time.Second, "every alert at the healthy endpoint while the slow one hangs", func() bool {
		return len(healthy.accepted()) == alerts
	})
	for i, r := range healthy.accepted() {
		if d := r.at.Sub(sent[i]); d > 3*time.Second {
			t.Errorf("alert %d took %s to reach the healthy endpoint", i, d)
		}
	}
	if n := len(slow.accepted()); n != 0 {
		t.Errorf("the slow endpoint answered %d", n)
	}
}

func TestWebhooks_ARemovedEndpointGetsNothingMore(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{})
	rc := newReceiver(t, secret, always(200))
	id := h.register(rc.URL, secret, nil, nil)
	h.raise("dev-1", raised("dev-1", time.Now()))
	eventually(t, 5*time.Second, "the first alert", func() bool { return len(rc.accepted()) == 1 })
	if _, err := h.app.RemoveWebhook.Handle(t.Context(), &commands.RemoveWebhook{Caller: commands.Caller{Admin: true}, ID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.app.RemoveWebhook.Handle(t.Context(), &commands.RemoveWebhook{Caller: commands.Caller{Admin: true}, ID: id}); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Fatalf("second removal: %v, want not found", err)
	}
	h.raise("dev-1", cleared("dev-1", time.Now()))
	probe := newReceiver(t, secret, always(200)) // registered after the removal: it sees the next alert
	h.register(probe.URL, secret, nil, nil)
	h.raise("dev-2", raised("dev-2", time.Now()))
	eventually(t, 5*time.Second, "the later alert at another endpoint", func() bool { return len(probe.accepted()) == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.accepted()); n != 1 {
		t.Errorf("the removed endpoint got %d deliveries, want 1", n)
	}
}

// TestWebhookDispatcher_ABatchIsQueuedOnceEvenWhenTwoDispatchersRace is
// the outbox's promise: deliveries are queued in the transaction that moves
// the checkpoint, so a second dispatcher that read the same batch cannot
// queue it again, and a restarted one resumes after it.
func TestWebhookDispatcher_ABatchIsQueuedOnceEvenWhenTwoDispatchersRace(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDatabase(t)
	store := eventstore.New(pool, eventstore.Config{Unbatched: true})
	hooks := webhookstore.New(pool)
	guard, _ := service.WebhookGuard(config.Config{WebhookAllow: "127.0.0.1"})
	h := &harness{t: t, store: store, hooks: hooks,
		app: commands.NewApplication(store, time.Now, domain.DefaultTelemetryPolicy).WithWebhookTargets(guard)}
	id := h.register("http://127.0.0.1:9/hook", secret, nil, nil)
	h.raise("dev-1", raised("dev-1", time.Now()))

	eventually(t, 5*time.Second, "both events readable", func() bool {
		recs, err := store.ReadAfter(t.Context(), domain.Start, 10)
		return err == nil && len(recs) == 2
	})

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := commands.NewWebhookDispatcher(store, store, hooks, logger, commands.WebhookDispatcherConfig{})
	b := commands.NewWebhookDispatcher(store, store, hooks, logger, commands.WebhookDispatcherConfig{})
	for _, d := range []*commands.WebhookDispatcher{a, b} {
		if err := d.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := a.Step(t.Context()); err != nil || n != 2 {
		t.Fatalf("first dispatcher: %d events, %v", n, err)
	}
	if _, err := b.Step(t.Context()); !errors.Is(err, commands.ErrWebhookCheckpointMoved) {
		t.Fatalf("second dispatcher on the same batch: %v, want the checkpoint moved", err)
	}
	queued, err := hooks.NextDeliveries(t.Context(), id, 0, 10)
	if err != nil || len(queued) != 1 {
		t.Fatalf("queued %d deliveries (%v), want 1", len(queued), err)
	}
	restarted := commands.NewWebhookDispatcher(store, store, hooks, logger, commands.WebhookDispatcherConfig{})
	if err := restarted.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, err := restarted.Step(t.Context()); err != nil || n != 0 {
		t.Fatalf("restarted dispatcher read %d events (%v), want none: it resumes after the batch", n, err)
	}
}

func TestWebhookStore_PruningDropsOnlyLogEntriesPastTheRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{})
	rc := newReceiver(t, secret, always(200))
	id := h.register(rc.URL, secret, nil, nil)
	h.raise("dev-1", raised("dev-1", time.Now()))
	eventually(t, 5*time.Second, "a logged delivery", func() bool {
		log, _, _ := h.hooks.Deliveries(t.Context(), id, 10)
		return len(log) == 1
	})
	old := commands.WebhookAttempt{WebhookID: id, DeliveryID: -1, EventID: "old", EventType: domain.TypeAlertRaised, Attempt: 1,
		StatusCode: 200, At: time.Now().Add(-40 * 24 * time.Hour), Delivered: true}
	if err := h.hooks.RecordDelivered(t.Context(), []commands.WebhookAttempt{old}); err != nil {
		t.Fatal(err)
	}
	n, err := h.hooks.PruneDeliveries(t.Context(), time.Now().Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the one old entry", n, err)
	}
	log, _, _ := h.hooks.Deliveries(t.Context(), id, 10)
	if len(log) != 1 || log[0].EventID == "old" {
		t.Fatalf("left %+v, want the recent entry only", log)
	}
}

func TestWebhookStore_OneProcessAtATimeHoldsTheDeliveryLock(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDatabase(t)
	a, b := webhookstore.New(pool), webhookstore.New(pool)
	unlock, ok, err := a.LockDelivery(t.Context())
	if err != nil || !ok {
		t.Fatalf("first: %v %v", ok, err)
	}
	if _, ok, err := b.LockDelivery(t.Context()); err != nil || ok {
		t.Fatalf("second while the first holds it: %v %v", ok, err)
	}
	unlock()
	unlock2, ok, err := b.LockDelivery(t.Context())
	if err != nil || !ok {
		t.Fatalf("second after the first let go: %v %v", ok, err)
	}
	unlock2()
}
