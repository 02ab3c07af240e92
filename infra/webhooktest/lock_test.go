package webhooktest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/webhookstore"
	"github.com/fleetpulse/fleetpulse/infra/webhook"
)

// cancelOnLock is the store whose LockDelivery ends the pool's context
// right after it has taken the lock: a shutdown arriving at that moment.
type cancelOnLock struct {
	*webhookstore.Store
	cancel context.CancelFunc
}

func (c cancelOnLock) LockDelivery(ctx context.Context) (func(), bool, error) {
	unlock, ok, err := c.Store.LockDelivery(ctx)
	c.cancel()
	return unlock, ok, err
}

// TestPool_ALockTakenAsItsContextEndsIsGivenBack: the pool stopped just
// after taking the delivery lock gives it (and its connection) back, so
// another process can deliver and closing the database pool does not wait
// for ever (it did, now and then, at the end of a test).
func TestPool_ALockTakenAsItsContextEndsIsGivenBack(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDatabase(t)
	store := webhookstore.New(pool)
	ctx, cancel := context.WithCancel(t.Context())
	p := webhook.NewPool(cancelOnLock{Store: store, cancel: cancel}, nil, nil, time.Now,
		slog.New(slog.NewTextHandler(io.Discard, nil)), webhook.PoolConfig{})
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	unlock, ok, err := store.LockDelivery(t.Context())
	if err != nil || !ok {
		t.Fatalf("the lock is still held after the pool stopped: %v, %v", ok, err)
	}
	unlock()
	if n := pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d connections still acquired", n)
	}
}
