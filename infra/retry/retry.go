// Package retry paces fleetpulse's retries of failed work with one library,
// github.com/cenkalti/backoff/v5: the policies the processes retry with, and
// Forever, which retries work until it succeeds or its context ends.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Exponential waits first after the first failure, then twice as long after
// each further one, never more than max. It has no jitter: each process
// retries its own work, so there is no herd to spread.
func Exponential(first, max time.Duration) backoff.BackOff {
	return &backoff.ExponentialBackOff{InitialInterval: first, Multiplier: 2, MaxInterval: max}
}

// Constant waits the same interval after every failure.
func Constant(interval time.Duration) backoff.BackOff {
	return backoff.NewConstantBackOff(interval)
}

// Forever runs op until it succeeds, waiting the intervals of policy between
// failures; notify, when not nil, hears each failure and the wait that
// follows. It never gives up by itself (backoff.Retry would after 15
// minutes): it returns op's result, op's error when op wraps it with
// backoff.Permanent or policy says backoff.Stop, or ctx's cause when ctx
// ends first. policy starts over at each call.
func Forever[T any](ctx context.Context, policy backoff.BackOff, op backoff.Operation[T], notify backoff.Notify) (T, error) {
	return backoff.Retry(ctx, op, backoff.WithBackOff(policy), backoff.WithMaxElapsedTime(0), backoff.WithNotify(notify))
}

// Doubling is Forever for work without a result, waiting
// Exponential(first, max) afresh at each call: the shape
// projections.Config.Retry takes.
func Doubling(first, max time.Duration) func(ctx context.Context, attempt func() error) error {
	return func(ctx context.Context, attempt func() error) error {
		_, err := Forever(ctx, Exponential(first, max), func() (struct{}, error) { return struct{}{}, attempt() }, nil)
		return err
	}
}
