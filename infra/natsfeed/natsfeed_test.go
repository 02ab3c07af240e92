package natsfeed_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/natsfeed"
)

func recorded(t *testing.T, stream string, pos domain.Position, e domain.Event) domain.RecordedEvent {
	t.Helper()
	d, err := domain.NewEventData(uuid.NewString(), e)
	if err != nil {
		t.Fatal(err)
	}
	return domain.RecordedEvent{ID: d.ID, StreamID: stream, Type: d.Type, Data: d.Data, Position: pos, RecordedAt: time.Now()}
}

// TestPublisher publishes on a real NATS server: the subject and headers
// name the event, a second publish of one position is dropped by
// JetStream, an unpublished event publishes nothing, and a bad prefix is
// refused.
func TestPublisher(t *testing.T) {
	t.Parallel()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second); err != nil {
		t.Skipf("NATS is not reachable on 127.0.0.1:4222 (%v)", err)
	} else {
		c.Close()
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := natsfeed.Open(ctx, natsfeed.Config{URL: nats.DefaultURL, Prefix: "bad.prefix"}, logger); err == nil {
		t.Fatal("a prefix with a dot was accepted")
	}
	// A server not reachable yet does not stop the feed from starting: its
	// publishes fail (and are retried by the caller) until it is.
	down, err := natsfeed.Open(ctx, natsfeed.Config{URL: "nats://127.0.0.1:1", Prefix: "fpdown"}, logger)
	if err != nil {
		t.Fatalf("opening with NATS down: %v", err)
	}
	down.Close()
	prefix := "fpnf_" + uuid.NewString()[:8]
	pub, err := natsfeed.Open(ctx, natsfeed.Config{URL: nats.DefaultURL, Prefix: prefix}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := nc.JetStream()
	t.Cleanup(func() { _ = js.DeleteStream(natsfeed.StreamName(prefix)) })

	now := time.Now().UTC()
	alert := recorded(t, domain.AlertStream("st-1"), domain.Position{Commit: 90, Prepare: 7},
		domain.AlertRaised{DeviceID: "st-1", Rule: "r", Type: "pm25", Threshold: 1, Value: 2, Since: now, At: now})
	rotation := recorded(t, domain.DeviceStream("st-1"), domain.Position{Commit: 91, Prepare: 1},
		domain.DeviceTokenRotated{DeviceID: "st-1", TokenHash: []byte("x"), RotatedAt: now})
	for _, r := range []domain.RecordedEvent{alert, alert, rotation} {
		if err := pub.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	info, err := js.StreamInfo(natsfeed.StreamName(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("the stream holds %d messages, want 1 (the repeat dropped, the rotation not published)", info.State.Msgs)
	}
	msg, err := js.GetMsg(natsfeed.StreamName(prefix), 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != prefix+".events.alert_raised.st-1" || msg.Header.Get(nats.MsgIdHdr) != "90-7" ||
		msg.Header.Get(natsfeed.HeaderPosition) != "90-7" || msg.Header.Get(natsfeed.HeaderType) != "alert_raised" ||
		msg.Header.Get(natsfeed.HeaderSchema) != "1" {
		t.Fatalf("subject %s, headers %v", msg.Subject, msg.Header)
	}
	var e domain.IntegrationEvent
	if err := json.Unmarshal(msg.Data, &e); err != nil || e.Position != "90-7" || e.DeviceID != "st-1" {
		t.Fatalf("body %s: %v", msg.Data, err)
	}
}
