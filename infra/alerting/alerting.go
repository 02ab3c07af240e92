// Package alerting runs the alert evaluator (commands.AlertEvaluator) on
// the integration events: Run connects the forwarder, which publishes the
// event log on an in-process Watermill bus, to the evaluator, which
// Consume feeds from the bus, and Watch ticks it on a clock to report
// silent devices. The evaluator's state and decisions live in commands;
// this package only carries events and ticks to it.
package alerting

import (
	"context"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/forwarder"
	"github.com/fleetpulse/fleetpulse/infra/retry"
)

// Clock tells the time and ticks; tests drive both.
type Clock interface {
	Now() time.Time
	// Ticker returns a channel that ticks every d, and a stop function.
	Ticker(d time.Duration) (<-chan time.Time, func())
}

// SystemClock is the wall clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Config tunes alerting.
type Config struct {
	// OfflineAfter is how long a device may send no measured data before it
	// is reported silent; default commands.DefaultOfflineAfter.
	OfflineAfter time.Duration
	// CheckEvery is how often silence is checked; default OfflineAfter/10,
	// at least a second.
	CheckEvery time.Duration
	// Metrics, if set, describes the evaluator.
	Metrics *Metrics
}

func (c *Config) defaults() {
	if c.OfflineAfter <= 0 {
		c.OfflineAfter = commands.DefaultOfflineAfter
	}
	if c.CheckEvery <= 0 {
		c.CheckEvery = max(c.OfflineAfter/10, time.Second)
	}
}

// Consume hands integration events to handle, in order, until ctx ends. An
// event that fails is retried with a backoff, never nacked: a Go channel
// would redeliver it at once, forever, and the events behind it must wait
// their turn anyway.
func Consume(ctx context.Context, msgs <-chan *message.Message, handle func(context.Context, domain.RecordedEvent) error, logger *slog.Logger) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-msgs:
			if !ok {
				return nil
			}
			r, err := forwarder.Recorded(msg)
			if err != nil {
				// A message this code cannot read will not improve on retry.
				logger.Error("unreadable integration event; skipped", "id", msg.UUID, "err", err)
				msg.Ack()
				continue
			}
			_, err = retry.Forever(ctx, retry.Exponential(100*time.Millisecond, 5*time.Second), func() (struct{}, error) {
				return struct{}{}, handle(ctx, r)
			}, func(err error, wait time.Duration) {
				logger.Warn("alert evaluation failed; retrying", "event", r.ID, "err", err, "backoff", wait)
			})
			if err != nil {
				return nil // ctx ended, unacked: the forwarder keeps its checkpoint before it
			}
			msg.Ack()
		}
	}
}

// Watch calls tick every interval on the clock's ticker until ctx ends: the
// evaluator then reports the devices that went silent.
func Watch(ctx context.Context, clock Clock, every time.Duration, tick func(context.Context) error, logger *slog.Logger) error {
	ticks, stop := clock.Ticker(every)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			if err := tick(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("silence check failed", "err", err)
			}
		}
	}
}
