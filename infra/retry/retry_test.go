package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
)

func TestExponential_DoublesUpToItsMaximumWithoutJitter(t *testing.T) {
	b := Exponential(100*time.Millisecond, time.Second)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.NextBackOff(); got != w*time.Millisecond {
			t.Fatalf("wait %d = %s, want %s", i+1, got, w*time.Millisecond)
		}
	}
	b.Reset()
	if got := b.NextBackOff(); got != 100*time.Millisecond {
		t.Fatalf("after Reset: %s, want 100ms", got)
	}
}

func TestForever(t *testing.T) {
	errFlaky := errors.New("flaky")
	errBad := errors.New("bad input")
	tests := []struct {
		name string
		// fail is the error of attempt n (from 1); nil succeeds.
		fail     func(n int) error
		policy   backoff.BackOff
		ctxAfter time.Duration // 0: never ends
		want     error
		attempts int
	}{
		{"retries until the work succeeds", func(n int) error {
			if n < 4 {
				return errFlaky
			}
			return nil
		}, Exponential(time.Millisecond, 4*time.Millisecond), 0, nil, 4},
		{"a permanent error ends it at once", func(int) error { return backoff.Permanent(errBad) },
			Exponential(time.Millisecond, time.Millisecond), 0, errBad, 1},
		{"ends with its context's cause", func(int) error { return errFlaky },
			Constant(5 * time.Millisecond), 30 * time.Millisecond, context.DeadlineExceeded, -1},
		// backoff.Retry alone gives up once the next wait would pass 15
		// minutes: Forever waits on.
		{"never gives up by itself", func(int) error { return errFlaky },
			Constant(16 * time.Minute), 30 * time.Millisecond, context.DeadlineExceeded, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctxAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxAfter)
				defer cancel()
			}
			attempts, notified := 0, 0
			got, err := Forever(ctx, tt.policy, func() (int, error) {
				attempts++
				return attempts, tt.fail(attempts)
			}, func(error, time.Duration) { notified++ })
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.attempts >= 0 && attempts != tt.attempts {
				t.Fatalf("attempts = %d, want %d", attempts, tt.attempts)
			}
			if tt.want == nil && got != attempts {
				t.Fatalf("result = %d, want the last attempt's (%d)", got, attempts)
			}
			if tt.want == nil && notified != attempts-1 {
				t.Fatalf("notified %d times, want once per failure (%d)", notified, attempts-1)
			}
		})
	}
}

func TestDoubling_RunsAttemptUntilItSucceeds(t *testing.T) {
	run := Doubling(time.Millisecond, 2*time.Millisecond)
	n := 0
	err := run(context.Background(), func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d attempts, want nil after 3", err, n)
	}
}
