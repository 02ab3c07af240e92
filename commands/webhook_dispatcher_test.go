package commands_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// memOutbox keeps what the dispatcher commits, as the PostgreSQL outbox
// does, for the dispatcher's decisions to be read.
type memOutbox struct {
	checkpoint domain.Position
	active     map[string]domain.Webhook
	disabled   map[string]domain.Webhook
	queued     []commands.WebhookDelivery
}

func (o *memOutbox) WebhookCheckpoint(context.Context) (domain.Position, error) {
	return o.checkpoint, nil
}

func (o *memOutbox) Webhooks(context.Context) (active, disabled []domain.Webhook, _ error) {
	for _, w := range o.active {
		active = append(active, w)
	}
	for _, w := range o.disabled {
		disabled = append(disabled, w)
	}
	return active, disabled, nil
}

func (o *memOutbox) CommitWebhooks(_ context.Context, from, to domain.Position, b *commands.WebhookBatch) error {
	if from != o.checkpoint {
		return commands.ErrWebhookCheckpointMoved
	}
	for _, w := range b.Registered {
		o.active[w.ID] = w
	}
	if o.disabled == nil {
		o.disabled = map[string]domain.Webhook{}
	}
	for _, id := range b.Disabled {
		if w, ok := o.active[id]; ok {
			o.disabled[id] = w
		}
		delete(o.active, id)
	}
	for _, id := range b.Enabled {
		if w, ok := o.disabled[id]; ok {
			o.active[id] = w
		}
		delete(o.disabled, id)
	}
	for _, id := range b.Removed {
		delete(o.active, id)
		delete(o.disabled, id)
	}
	o.queued = append(o.queued, b.Deliveries...)
	o.checkpoint = to
	return nil
}

// TestWebhookDispatcher_AnAlertGoesToTheEndpointsActiveAtItsPointOfTheLog:
// an alert recorded before a webhook's registration, or after its removal,
// is not sent to it; a restarted dispatcher knows the endpoints again.
func TestWebhookDispatcher_AnAlertGoesToTheEndpointsActiveAtItsPointOfTheLog(t *testing.T) {
	f := newFixture(t) // webhookA registered, for every alert
	alert := func(dev string, at time.Time) string {
		t.Helper()
		e := domain.AlertRaised{DeviceID: dev, Rule: "r", Type: "pm25", Threshold: 1, Value: 2, Since: at, At: at}
		data, err := domain.NewEventData(commands.AlertEventID(e), e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Append(f.ctx, domain.AlertStream(dev), domain.AnyVersion, []domain.EventData{data}); err != nil {
			t.Fatal(err)
		}
		return data.ID
	}
	first := alert(stationA, now)
	f.must(f.app.RegisterWebhook.Handle(f.ctx, &commands.RegisterWebhook{Caller: operator, ID: "hook-b",
		URL: "https://hooks.example.com/b", Secret: "0123456789abcdef", Devices: []string{stationB}}))
	second := alert(stationB, now.Add(time.Minute))
	f.must(f.app.RemoveWebhook.Handle(f.ctx, &commands.RemoveWebhook{Caller: operator, ID: webhookA}))
	third := alert(stationB, now.Add(2*time.Minute))

	out := &memOutbox{active: map[string]domain.Webhook{}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// run is a dispatcher started afresh (its state loaded from out) that
	// dispatches the whole log.
	run := func() {
		t.Helper()
		d := commands.NewWebhookDispatcher(f.store, nil, out, logger, commands.WebhookDispatcherConfig{BatchSize: 3})
		if err := d.Load(f.ctx); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := d.Step(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	run()
	want := []struct{ hook, event string }{{webhookA, first}, {webhookA, second}, {"hook-b", second}, {"hook-b", third}}
	if len(out.queued) != len(want) {
		t.Fatalf("queued %+v, want %v", out.queued, want)
	}
	for i, w := range want {
		if q := out.queued[i]; q.WebhookID != w.hook || q.EventID != w.event || q.EventType != domain.TypeAlertRaised || len(q.Payload) == 0 {
			t.Errorf("queued[%d] = %s/%s, want %s/%s", i, q.WebhookID, q.EventID, w.hook, w.event)
		}
	}
	if _, ok := out.active[webhookA]; ok || len(out.active) != 1 {
		t.Errorf("active endpoints after the log: %v", out.active)
	}

	// Disabled by failures, hook-b gets nothing of what is recorded then;
	// enabled again, the next alerts go to it, also after a restart of
	// the dispatcher between the two.
	disabled, err := commands.NewDisableWebhookHandler(f.store, func() time.Time { return now }).Handle(f.ctx,
		commands.DisableWebhook{ID: "hook-b", Failures: 3, Limit: 3, LastError: "HTTP 500"})
	if err != nil || !disabled {
		t.Fatalf("disable: %v, %v", disabled, err)
	}
	whileDisabled := alert(stationB, now.Add(3*time.Minute))
	run()
	if _, ok := out.disabled["hook-b"]; !ok || len(out.active) != 0 {
		t.Fatalf("after disabling: active %v, disabled %v", out.active, out.disabled)
	}
	o := f.must(f.app.EnableWebhook.Handle(f.ctx, &commands.EnableWebhook{Caller: operator, ID: "hook-b"}))
	if o.Accepted != 1 {
		t.Errorf("enabling a disabled webhook recorded %d events, want 1", o.Accepted)
	}
	if o := f.must(f.app.EnableWebhook.Handle(f.ctx, &commands.EnableWebhook{Caller: operator, ID: "hook-b"})); o.Accepted != 0 {
		t.Errorf("enabling an active webhook recorded %d events, want 0", o.Accepted)
	}
	afterEnabled := alert(stationB, now.Add(4*time.Minute))
	run()
	last := out.queued[len(out.queued)-1]
	if len(out.queued) != len(want)+1 || last.WebhookID != "hook-b" || last.EventID != afterEnabled {
		t.Errorf("queued after enabling: %+v; want only %s (not %s, recorded while disabled)", out.queued[len(want):], afterEnabled, whileDisabled)
	}
	if _, ok := out.active["hook-b"]; !ok {
		t.Errorf("hook-b not active after enabling: %v", out.active)
	}
	if _, err := f.app.EnableWebhook.Handle(f.ctx, &commands.EnableWebhook{Caller: operator, ID: webhookA}); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("enabling a removed webhook: %v, want ErrWebhookNotFound", err)
	}
}
