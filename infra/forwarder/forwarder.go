// Package forwarder publishes the event log as integration events: it reads
// the log in order from its own checkpoint, publishes each event on a
// Watermill publisher, and moves the checkpoint only after the publish was
// acknowledged. Delivery is at least once and in log order (so in order per
// device); a crash between a publish and its checkpoint redelivers.
package forwarder

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/retry"
	"github.com/fleetpulse/fleetpulse/projections"
)

// Topic carries every event of the log.
const Topic = "fleetpulse_events"

// CheckpointName is the forwarder's row in projection_checkpoints.
const CheckpointName = "forwarder"

// Metadata keys of an integration event message; its payload is the event's JSON.
const (
	MetaType          = "event_type"
	MetaStream        = "stream_id"
	MetaStreamVersion = "stream_version"
	MetaCommit        = "commit_pos"
	MetaPrepare       = "prepare_pos"
	MetaRecordedAt    = "recorded_at"
)

// Checkpoints stores where the forwarder stands.
type Checkpoints interface {
	Checkpoint(ctx context.Context, name string) (domain.Position, error)
	// Move moves the checkpoint from `from` to `to`; it fails with
	// projections.ErrCheckpointMoved when another forwarder moved it first.
	Move(ctx context.Context, name string, from, to domain.Position, events int) error
}

// ReadModelCheckpoints stores the checkpoint with the projections' (a
// projections.ReadModelStore applying an empty batch).
type ReadModelCheckpoints struct{ Store projections.ReadModelStore }

func (c ReadModelCheckpoints) Checkpoint(ctx context.Context, name string) (domain.Position, error) {
	return c.Store.Checkpoint(ctx, name)
}

func (c ReadModelCheckpoints) Move(ctx context.Context, name string, from, to domain.Position, events int) error {
	return c.Store.Apply(ctx, name, from, to, &projections.Changes{Events: events})
}

// Config tunes a forwarder.
type Config struct {
	Name      string // checkpoint name; default CheckpointName
	Topic     string // default Topic
	BatchSize int    // events read per step; default 500
}

// Forwarder publishes the log.
type Forwarder struct {
	log        projections.EventLog
	waiter     projections.Waiter
	cps        Checkpoints
	pub        message.Publisher
	logger     *slog.Logger
	cfg        Config
	checkpoint domain.Position
}

// New builds a forwarder. pub must not acknowledge before its subscribers
// have (a Go channel needs BlockPublishUntilSubscriberAck).
func New(log projections.EventLog, waiter projections.Waiter, cps Checkpoints, pub message.Publisher, logger *slog.Logger, cfg Config) *Forwarder {
	if cfg.Name == "" {
		cfg.Name = CheckpointName
	}
	if cfg.Topic == "" {
		cfg.Topic = Topic
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	return &Forwarder{log: log, waiter: waiter, cps: cps, pub: pub, logger: logger, cfg: cfg}
}

// Checkpoint reads the stored checkpoint (consumers rebuilding their state
// read the log up to it).
func (f *Forwarder) Checkpoint(ctx context.Context) (domain.Position, error) {
	return f.cps.Checkpoint(ctx, f.cfg.Name)
}

// Run forwards until ctx ends. A failed step is retried with backoff (100 ms
// doubling to 5 s) from the checkpoint, read again first.
func (f *Forwarder) Run(ctx context.Context) error {
	loaded := false
	policy := retry.Exponential(100*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil {
		n, err := retry.Forever(ctx, policy, func() (int, error) {
			if !loaded {
				cp, err := f.cps.Checkpoint(ctx, f.cfg.Name)
				if err != nil {
					return 0, err
				}
				f.checkpoint, loaded = cp, true
			}
			n, err := f.Step(ctx)
			if err != nil {
				loaded = false
			}
			return n, err
		}, func(err error, wait time.Duration) {
			f.logger.Warn("forwarding failed; retrying from checkpoint", "err", err, "backoff", wait)
		})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err // not reached: Forever gives up only when ctx ends
		case n == 0:
			f.waiter.Wait(ctx)
		}
	}
	return nil
}

// Step publishes one batch from the checkpoint (which must be loaded: Run
// does, or Load) and returns how many events it published.
func (f *Forwarder) Step(ctx context.Context) (int, error) {
	events, err := f.log.ReadAfter(ctx, f.checkpoint, f.cfg.BatchSize)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	published := 0
	for _, r := range events {
		if err := f.pub.Publish(f.cfg.Topic, Message(r)); err != nil {
			return published, f.commit(ctx, events[:published], fmt.Errorf("publish %s: %w", r.ID, err))
		}
		// A Go channel returns from Publish without an ack when it or its
		// subscriber is closing: the event counts as not delivered.
		if ctx.Err() != nil {
			return published, f.commit(ctx, events[:published], ctx.Err())
		}
		published++
	}
	return published, f.commit(ctx, events, nil)
}

// commit moves the checkpoint past the published events, then returns cause.
func (f *Forwarder) commit(ctx context.Context, done []domain.RecordedEvent, cause error) error {
	if len(done) == 0 {
		return cause
	}
	to := done[len(done)-1].Position
	moveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := f.cps.Move(moveCtx, f.cfg.Name, f.checkpoint, to, len(done)); err != nil {
		return fmt.Errorf("move forwarder checkpoint: %w", err)
	}
	f.checkpoint = to
	return cause
}

// Load reads the stored checkpoint into the forwarder.
func (f *Forwarder) Load(ctx context.Context) error {
	cp, err := f.cps.Checkpoint(ctx, f.cfg.Name)
	if err != nil {
		return err
	}
	f.checkpoint = cp
	return nil
}

// Message turns a recorded event into its integration message; the
// message id is the event id, so consumers can drop redeliveries.
func Message(r domain.RecordedEvent) *message.Message {
	msg := message.NewMessage(r.ID, r.Data)
	msg.Metadata.Set(MetaType, r.Type)
	msg.Metadata.Set(MetaStream, r.StreamID)
	msg.Metadata.Set(MetaStreamVersion, strconv.FormatInt(r.StreamVersion, 10))
	msg.Metadata.Set(MetaCommit, strconv.FormatUint(r.Position.Commit, 10))
	msg.Metadata.Set(MetaPrepare, strconv.FormatUint(r.Position.Prepare, 10))
	msg.Metadata.Set(MetaRecordedAt, r.RecordedAt.UTC().Format(time.RFC3339Nano))
	return msg
}

// Recorded reads an integration message back into the recorded event.
func Recorded(msg *message.Message) (domain.RecordedEvent, error) {
	r := domain.RecordedEvent{ID: msg.UUID, Type: msg.Metadata.Get(MetaType), StreamID: msg.Metadata.Get(MetaStream), Data: msg.Payload}
	var err error
	if r.StreamVersion, err = strconv.ParseInt(msg.Metadata.Get(MetaStreamVersion), 10, 64); err != nil {
		return r, fmt.Errorf("message %s: stream version: %w", msg.UUID, err)
	}
	if r.Position.Commit, err = strconv.ParseUint(msg.Metadata.Get(MetaCommit), 10, 64); err != nil {
		return r, fmt.Errorf("message %s: position: %w", msg.UUID, err)
	}
	if r.Position.Prepare, err = strconv.ParseUint(msg.Metadata.Get(MetaPrepare), 10, 64); err != nil {
		return r, fmt.Errorf("message %s: position: %w", msg.UUID, err)
	}
	if r.RecordedAt, err = time.Parse(time.RFC3339Nano, msg.Metadata.Get(MetaRecordedAt)); err != nil {
		return r, fmt.Errorf("message %s: recorded at: %w", msg.UUID, err)
	}
	return r, nil
}

// NewGoChannel returns the in-process bus integration events travel on by
// default: Publish waits for the subscribers' ack, so events stay in order
// and the checkpoint never passes an unhandled one. Consumers must not nack
// what they cannot handle (a Go channel redelivers at once, forever): they
// retry with a backoff of their own.
func NewGoChannel(logger watermill.LoggerAdapter) *gochannel.GoChannel {
	return gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, logger)
}
