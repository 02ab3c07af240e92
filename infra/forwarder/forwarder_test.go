package forwarder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/projections"
)

// memLog is a log in memory: events at positions 1..n.
type memLog struct {
	mu     sync.Mutex
	events []domain.RecordedEvent
}

func (l *memLog) add(stream string, version int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := uint64(len(l.events) + 1)
	l.events = append(l.events, domain.RecordedEvent{ID: fmt.Sprintf("%s-%d", stream, version), StreamID: stream, StreamVersion: version,
		Type: "Test", Data: []byte(`{}`), Position: domain.Position{Commit: n, Prepare: n}, RecordedAt: time.Unix(int64(n), 0)})
}

func (l *memLog) ReadAfter(_ context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []domain.RecordedEvent
	for _, e := range l.events {
		if after.Less(e.Position) && len(out) < max {
			out = append(out, e)
		}
	}
	return out, nil
}

type sleepWaiter struct{}

func (sleepWaiter) Wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Millisecond):
	}
}

// memCheckpoints keeps the checkpoint; failMoves makes the next moves fail,
// as a crash between a publish and its checkpoint would.
type memCheckpoints struct {
	mu        sync.Mutex
	pos       domain.Position
	failMoves int
}

func (c *memCheckpoints) Checkpoint(context.Context, string) (domain.Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos, nil
}

func (c *memCheckpoints) Move(_ context.Context, _ string, from, to domain.Position, _ int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failMoves > 0 {
		c.failMoves--
		return errors.New("crashed before the checkpoint")
	}
	if from != c.pos {
		return projections.ErrCheckpointMoved
	}
	c.pos = to
	return nil
}

func TestForwarder_CrashBeforeCheckpointRedeliversInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := &memLog{}
	for v := int64(0); v < 15; v++ {
		log.add("telemetry-a", v)
		log.add("telemetry-b", v)
	}
	pubsub := NewGoChannel(watermill.NopLogger{})
	defer pubsub.Close()
	msgs, err := pubsub.Subscribe(ctx, Topic)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []domain.RecordedEvent
	)
	go func() {
		for msg := range msgs {
			r, err := Recorded(msg)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
			msg.Ack()
		}
	}()

	cps := &memCheckpoints{}
	first := New(log, sleepWaiter{}, cps, pubsub, logger, Config{BatchSize: 10})
	if err := first.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := first.Step(ctx); n != 10 || err != nil {
		t.Fatalf("first batch: %d, %v", n, err)
	}
	cps.failMoves = 1
	if _, err := first.Step(ctx); err == nil {
		t.Fatal("the crashed checkpoint move was not reported")
	}
	if cps.pos.Commit != 10 {
		t.Fatalf("checkpoint at %s, want after the first batch", cps.pos)
	}

	// A new process starts from the stored checkpoint.
	second := New(log, sleepWaiter{}, cps, pubsub, logger, Config{BatchSize: 10})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pos, _ := cps.Checkpoint(ctx, "")
		if pos.Commit == 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint stuck at %s", pos)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 40 {
		t.Fatalf("delivered %d messages, want 30 events + 10 redelivered", len(seen))
	}
	// Every event at least once, and each one delivered only after every
	// earlier event of its stream.
	delivered := map[string]int64{"telemetry-a": -1, "telemetry-b": -1}
	count := map[string]int{}
	for _, r := range seen {
		count[r.ID]++
		if r.StreamVersion > delivered[r.StreamID]+1 {
			t.Fatalf("%s delivered before version %d of its stream", r.ID, delivered[r.StreamID]+1)
		}
		delivered[r.StreamID] = max(delivered[r.StreamID], r.StreamVersion)
	}
	for _, e := range log.events {
		if count[e.ID] == 0 {
			t.Fatalf("%s never delivered", e.ID)
		}
	}
	if delivered["telemetry-a"] != 14 || delivered["telemetry-b"] != 14 {
		t.Fatalf("delivered up to %v", delivered)
	}
}

// failingPublisher acknowledges until its budget runs out, then fails.
type failingPublisher struct {
	ok   int
	sent []string
}

func (p *failingPublisher) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if p.ok == 0 {
			return errors.New("broker away")
		}
		p.ok--
		p.sent = append(p.sent, m.UUID)
	}
	return nil
}

func (p *failingPublisher) Close() error { return nil }

func TestForwarder_AFailedPublishKeepsTheCheckpointBeforeIt(t *testing.T) {
	ctx := context.Background()
	log := &memLog{}
	for v := int64(0); v < 10; v++ {
		log.add("telemetry-a", v)
	}
	cps := &memCheckpoints{}
	pub := &failingPublisher{ok: 4}
	f := New(log, sleepWaiter{}, cps, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{})
	if err := f.Load(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := f.Step(ctx)
	if err == nil || n != 4 {
		t.Fatalf("step: %d, %v; want 4 published and the failure", n, err)
	}
	if cps.pos.Commit != 4 {
		t.Fatalf("checkpoint at %s, want after the 4 acknowledged events", cps.pos)
	}
	pub.ok = 100
	if n, err := f.Step(ctx); err != nil || n != 6 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	if len(pub.sent) != 10 || pub.sent[4] != "telemetry-a-4" {
		t.Fatalf("sent %v", pub.sent)
	}
}
