package esdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/fleetpulse/fleetpulse/infra/retry"
)

const (
	minResubscribe = 100 * time.Millisecond
	maxResubscribe = 5 * time.Second
)

// Wait returns when new events may be readable: a subscription to $all saw
// one, the poll interval passed, or ctx ended. The first call starts the
// subscription; until it is live, and while it is down, the poll interval
// alone wakes readers.
func (s *Store) Wait(ctx context.Context) {
	s.watchOnce.Do(func() {
		s.watching.Add(1)
		go func() {
			defer s.watching.Done()
			s.watch()
		}()
	})
	t := time.NewTimer(s.pollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.wake:
	case <-t.C:
	}
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// watch keeps a subscription until Close. Subscriptions never resubscribe
// by themselves: when one drops, this subscribes again, with backoff.
func (s *Store) watch() {
	policy := retry.Exponential(minResubscribe, maxResubscribe)
	_, _ = retry.Forever(s.life, policy, func() (struct{}, error) {
		started := time.Now()
		err := s.subscribe(s.life)
		if time.Since(started) > maxResubscribe {
			policy.Reset() // it ran well for a while: start over
		}
		if err == nil {
			err = errors.New("subscription ended") // only Close ends watching
		}
		return struct{}{}, err
	}, func(err error, wait time.Duration) {
		s.logger.Warn("EventStoreDB subscription dropped; resubscribing", "err", err, "backoff", wait)
	})
}

// subscribe signals every non-system event appended from now on, until the
// subscription drops or ctx ends.
func (s *Store) subscribe(ctx context.Context) error {
	var sub *esdb.Subscription
	err := s.conn.do(ctx, func(c *esdb.Client) error {
		var err error
		sub, err = c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
			// SubscribeToAll starts at End unless From is set: set it, so
			// the start is a decision, not a default. Readers catch up by
			// reading; the subscription only says "something new".
			From:   esdb.End{},
			Filter: esdb.ExcludeSystemEventsFilter(),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("subscribe to $all: %w", err)
	}
	defer sub.Close()
	// Events may have landed while there was no subscription.
	s.signal()
	for {
		ev := sub.Recv()
		switch {
		case ev.EventAppeared != nil:
			s.signal()
		case ev.SubscriptionDropped != nil:
			// The client is not retired here: a drop on Close or a server
			// restart is seen by the next call on it, which retires it.
			return ev.SubscriptionDropped.Error
		}
		// Checkpoints, caught-up and fell-behind notices say nothing new.
	}
}
