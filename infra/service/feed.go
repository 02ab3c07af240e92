package service

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/forwarder"
	"github.com/fleetpulse/fleetpulse/infra/natsfeed"
	"github.com/fleetpulse/fleetpulse/projections"
)

// FeedCheckpointName is the NATS event feed's row in
// projection_checkpoints: one per subject prefix, so feeds of two prefixes
// never share a place in the log.
func FeedCheckpointName(prefix string) string { return "feed-nats-" + prefix }

// NewNATSFeed is the NATS event feed: a forwarder of its own (its own
// checkpoint, FeedCheckpointName) that reads the log in order and
// publishes each integration event on JetStream, moving its checkpoint
// only past acknowledged publishes. Run it; close closes the connection
// once it has stopped.
func NewNATSFeed(ctx context.Context, cfg config.Config, log projections.EventLog, waiter projections.Waiter,
	checkpoints projections.ReadModelStore, logger *slog.Logger) (fwd *forwarder.Forwarder, close func(), err error) {
	pub, err := natsfeed.Open(ctx, natsfeed.Config{URL: cfg.FeedNATSURL, Prefix: cfg.FeedNATSPrefix}, logger)
	if err != nil {
		return nil, nil, err
	}
	fwd = forwarder.New(log, waiter, forwarder.ReadModelCheckpoints{Store: checkpoints}, natsFeedPublisher{pub: pub}, logger,
		forwarder.Config{Name: FeedCheckpointName(cfg.FeedNATSPrefix)})
	return fwd, pub.Close, nil
}

// natsFeedPublisher hands the forwarder's messages to the NATS feed.
type natsFeedPublisher struct{ pub *natsfeed.Publisher }

func (p natsFeedPublisher) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		r, err := forwarder.Recorded(m)
		if err != nil {
			return err
		}
		if err := p.pub.Publish(m.Context(), r); err != nil {
			return fmt.Errorf("event feed: %w", err)
		}
	}
	return nil
}

func (natsFeedPublisher) Close() error { return nil }
