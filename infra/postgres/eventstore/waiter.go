package eventstore

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/retry"
)

// waiter wakes log readers when an append commits: LISTEN on one connection,
// with a polling fallback so a lost notification costs at most one interval.
// It listens from the first wait on, so a store nobody waits on (the command
// API's) holds no connection for it.
type waiter struct {
	pool     *pgxpool.Pool
	wake     chan struct{}
	interval time.Duration

	start   sync.Once       // starts listening, or marks a waiter closed unused
	life    context.Context // ends at close
	stop    context.CancelFunc
	stopped chan struct{} // closed once no LISTEN connection is held
}

func newWaiter(pool *pgxpool.Pool, interval time.Duration) *waiter {
	life, stop := context.WithCancel(context.Background())
	return &waiter{pool: pool, wake: make(chan struct{}, 1), interval: interval, life: life, stop: stop, stopped: make(chan struct{})}
}

// close stops listening and returns once the LISTEN connection is closed:
// the pool cannot close before that.
func (w *waiter) close() {
	w.stop()
	w.start.Do(func() { close(w.stopped) })
	<-w.stopped
}

func (w *waiter) listen() {
	defer close(w.stopped)
	// listenOnce returns only when its connection fails; polling keeps
	// readers going meanwhile, and LISTEN is tried again every second.
	_, _ = retry.Forever(w.life, retry.Constant(time.Second), func() (struct{}, error) {
		return struct{}{}, w.listenOnce(w.life)
	}, nil)
}

func (w *waiter) listenOnce(ctx context.Context) error {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	defer func() {
		// A LISTENing connection must not go back to the pool as it is.
		_ = conn.Conn().Close(context.Background())
	}()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// wait returns when an append may have committed, after the polling
// interval, or when ctx ends. The first call starts listening; until LISTEN
// is in place, the polling interval alone wakes readers.
func (w *waiter) wait(ctx context.Context) {
	w.start.Do(func() { go w.listen() })
	t := time.NewTimer(w.interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}
