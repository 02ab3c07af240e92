package webhook

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/fleetpulse/fleetpulse/commands"
)

// Queue is what the delivery workers need from the outbox.
type Queue interface {
	// PendingWebhooks lists the active endpoints with queued deliveries.
	PendingWebhooks(ctx context.Context) ([]string, error)
	Endpoint(ctx context.Context, id string) (commands.WebhookEndpoint, bool, error)
	// NextDeliveries returns up to max queued deliveries of an endpoint
	// after delivery `after`, oldest first.
	NextDeliveries(ctx context.Context, id string, after int64, max int) ([]commands.WebhookDelivery, error)
	// RecordDelivered logs delivered attempts of any endpoints and takes
	// their deliveries out of the outbox, in one transaction.
	RecordDelivered(ctx context.Context, attempts []commands.WebhookAttempt) error
	// RecordFailure logs a failed attempt, makes its delivery due again at
	// retryAt and returns its endpoint's failures in a row.
	RecordFailure(ctx context.Context, a commands.WebhookAttempt, retryAt time.Time) (int, error)
	// PruneDeliveries deletes delivery-log entries attempted before `before`.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
	// LockDelivery makes this process the only one delivering (ok false
	// while another is); unlock gives the role up.
	LockDelivery(ctx context.Context) (unlock func(), ok bool, err error)
}

// Disabler records that an endpoint failed too often in a row and returns
// whether it is now disabled (commands.DisableWebhookHandler decides).
type Disabler interface {
	Disable(ctx context.Context, id string, failures int, lastErr string) (bool, error)
}

// PoolConfig tunes the delivery workers.
type PoolConfig struct {
	// DisableAfter failed attempts in a row disable an endpoint (0: never).
	DisableAfter int
	// RetryMin is the first wait after a failure; each further one doubles
	// it, up to RetryMax, with ±50% jitter.
	RetryMin, RetryMax time.Duration
	// PollEvery is how often the pool looks for queued deliveries it was
	// not told about (another process's, or left by a restart).
	PollEvery time.Duration
	// LogRetention is how long delivery-log entries are kept (pruned
	// hourly); default 30 days.
	LogRetention time.Duration
	// Observe, if set, hears every attempt (metrics, tests).
	Observe func(d commands.WebhookDelivery, a commands.WebhookAttempt)
}

func (c *PoolConfig) defaults() {
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(c.RetryMin, 10*time.Minute)
	}
	if c.PollEvery <= 0 {
		c.PollEvery = time.Second
	}
	if c.LogRetention <= 0 {
		c.LogRetention = 30 * 24 * time.Hour
	}
}

// Pool runs one worker per endpoint with queued deliveries. A worker sends
// its endpoint's deliveries one at a time, in dispatch order, and waits out
// its own backoff: a slow or dead endpoint holds up only itself. A worker
// whose queue is empty ends; Wake or the poll starts it again.
type Pool struct {
	queue    Queue
	sender   *Sender
	disabler Disabler
	logger   *slog.Logger
	cfg      PoolConfig
	now      func() time.Time

	// Delivered attempts wait here for the next shared commit
	// (recordEvery): one transaction for every endpoint's, not one each.
	pendingMu sync.Mutex
	pending   []commands.WebhookAttempt
	flushMu   sync.Mutex

	mu       sync.Mutex
	running  map[string]*worker
	disabled map[string]bool  // by this pool, before the dispatcher has projected it
	after    map[string]int64 // per endpoint, the last delivery delivered (maybe not yet committed)
	wake     chan struct{}
	wg       sync.WaitGroup
}

type worker struct {
	again bool // woken while running: look at the queue once more before ending
}

// NewPool builds the delivery workers.
func NewPool(queue Queue, sender *Sender, disabler Disabler, now func() time.Time, logger *slog.Logger, cfg PoolConfig) *Pool {
	cfg.defaults()
	return &Pool{queue: queue, sender: sender, disabler: disabler, logger: logger, cfg: cfg, now: now,
		running: map[string]*worker{}, disabled: map[string]bool{}, after: map[string]int64{}, wake: make(chan struct{}, 1)}
}

// Wake tells the pool that endpoints got deliveries: their workers start
// (or look again) at once. It never blocks.
func (p *Pool) Wake(ids []string) {
	p.mu.Lock()
	for _, id := range ids {
		if w, ok := p.running[id]; ok {
			w.again = true
		}
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Enabled tells the pool that endpoints were enabled again: whatever it
// remembered of disabling them is forgotten and their workers start. It
// never blocks.
func (p *Pool) Enabled(ids []string) {
	p.mu.Lock()
	for _, id := range ids {
		delete(p.disabled, id)
	}
	p.mu.Unlock()
	p.Wake(ids)
}

// settleDisabled forgets the endpoints this pool disabled once the store
// shows them inactive: from then on the store says whether they are
// active, so an endpoint enabled again is found by the poll even when
// another process's dispatcher saw the enabling.
func (p *Pool) settleDisabled(ctx context.Context) {
	p.mu.Lock()
	ids := make([]string, 0, len(p.disabled))
	for id := range p.disabled {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		ep, ok, err := p.queue.Endpoint(ctx, id)
		if err != nil {
			return // the next poll looks again
		}
		if !ok || !ep.Active {
			p.mu.Lock()
			delete(p.disabled, id)
			p.mu.Unlock()
		}
	}
}

// Run delivers until ctx ends. Only one process of a database delivers:
// Run first waits to be the one (an advisory lock), polling, so that a
// second projector process stands by instead of sending everything twice.
func (p *Pool) Run(ctx context.Context) error {
	standingBy := false
	for {
		unlock, ok, err := p.queue.LockDelivery(ctx)
		if ok {
			// Held, it is given back whatever happens next: a lock taken
			// just as ctx ended would otherwise keep its connection, and
			// closing the pool would wait for it for ever.
			defer unlock()
			if ctx.Err() != nil {
				return nil
			}
			return p.deliver(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.logger.Warn("take the webhook delivery lock failed", "err", err)
		} else if !standingBy {
			p.logger.Info("another process delivers webhooks; standing by")
		}
		standingBy = true
		sleep(ctx, 5*p.cfg.PollEvery)
	}
}

// deliver starts workers until ctx ends, then waits for them: an attempt in
// flight is cut by ctx, and recorded as failed only if it got that far.
func (p *Pool) deliver(ctx context.Context) error {
	defer func() {
		p.wg.Wait()
		if err := p.flush(context.WithoutCancel(ctx)); err != nil {
			p.logger.Warn("record webhook deliveries at shutdown failed; they will be sent again", "err", err)
		}
	}()
	recorderDone := make(chan struct{})
	go func() {
		defer close(recorderDone)
		p.record(ctx)
	}()
	defer func() { <-recorderDone }()
	t := time.NewTicker(p.cfg.PollEvery)
	defer t.Stop()
	var pruned time.Time
	for {
		if p.now().Sub(pruned) >= pruneEvery {
			pruned = p.now()
			if n, err := p.queue.PruneDeliveries(ctx, pruned.Add(-p.cfg.LogRetention)); err != nil && ctx.Err() == nil {
				p.logger.Warn("prune webhook delivery log failed", "err", err)
			} else if n > 0 {
				p.logger.Info("webhook delivery log pruned", "entries", n, "retention", p.cfg.LogRetention)
			}
		}
		p.settleDisabled(ctx)
		ids, err := p.queue.PendingWebhooks(ctx)
		if err != nil && ctx.Err() == nil {
			p.logger.Warn("list webhook queues failed", "err", err)
		}
		for _, id := range ids {
			p.start(ctx, id)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-t.C:
		}
	}
}

func (p *Pool) start(ctx context.Context, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disabled[id] {
		return
	}
	if w, ok := p.running[id]; ok {
		w.again = true
		return
	}
	w := &worker{}
	p.running[id] = w
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.work(ctx, id, w)
	}()
}

// done ends a worker unless it was woken meanwhile.
func (p *Pool) done(id string, w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.again {
		w.again = false
		return false
	}
	delete(p.running, id)
	return true
}

// work drains one endpoint's queue.
func (p *Pool) work(ctx context.Context, id string, w *worker) {
	bo := &backoff.ExponentialBackOff{InitialInterval: p.cfg.RetryMin, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: p.cfg.RetryMax}
	bo.Reset()
	for ctx.Err() == nil {
		more, err := p.drain(ctx, id, bo)
		if err != nil && ctx.Err() == nil {
			p.logger.Warn("webhook worker failed; will look again", "webhook", id, "err", err)
			sleep(ctx, p.cfg.PollEvery)
		}
		if !more && p.done(id, w) {
			return
		}
	}
	p.mu.Lock()
	delete(p.running, id)
	p.mu.Unlock()
}

// record commits delivered attempts every recordEvery until ctx ends.
func (p *Pool) record(ctx context.Context) {
	t := time.NewTicker(recordEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := p.flush(ctx); err != nil && ctx.Err() == nil {
			p.logger.Warn("record webhook deliveries failed; they will be sent again after a restart", "err", err)
		}
	}
}

// flush commits the delivered attempts waiting so far. A failed commit
// loses them from the log only: their deliveries stay in the outbox and are
// sent again after a restart (at least once).
func (p *Pool) flush(ctx context.Context) error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.pendingMu.Lock()
	batch := p.pending
	p.pending = nil
	p.pendingMu.Unlock()
	return p.queue.RecordDelivered(ctx, batch)
}

// drain sends the endpoint's queued deliveries in order until the queue is
// empty or the endpoint is no longer active. It remembers the last one it
// delivered, as those wait for the shared commit (flush) and are still in
// the outbox meanwhile.
func (p *Pool) drain(ctx context.Context, id string, bo *backoff.ExponentialBackOff) (more bool, _ error) {
	ep, ok, err := p.queue.Endpoint(ctx, id)
	if err != nil || !ok || !ep.Active || p.isDisabled(id) {
		return false, err
	}
	for ctx.Err() == nil {
		p.mu.Lock()
		after := p.after[id]
		p.mu.Unlock()
		batch, err := p.queue.NextDeliveries(ctx, id, after, 50)
		if err != nil || len(batch) == 0 {
			return false, err
		}
		for _, d := range batch {
			if wait := d.NextAttemptAt.Sub(p.now()); wait > 0 && !sleep(ctx, wait) {
				return false, nil
			}
			a := p.attempt(ctx, ep, d)
			if ctx.Err() != nil && !a.Delivered {
				return false, nil // cut by shutdown: not the endpoint's failure
			}
			if p.cfg.Observe != nil {
				p.cfg.Observe(d, a)
			}
			if a.Delivered {
				bo.Reset()
				p.mu.Lock()
				p.after[id] = d.ID
				p.mu.Unlock()
				p.pendingMu.Lock()
				p.pending = append(p.pending, a)
				p.pendingMu.Unlock()
				continue
			}
			// The successes before it reset the run of failures first.
			if err := p.flush(context.WithoutCancel(ctx)); err != nil {
				return false, err
			}
			retryAt := p.now().Add(bo.NextBackOff())
			failures, err := p.queue.RecordFailure(context.WithoutCancel(ctx), a, retryAt)
			if err != nil {
				return false, err
			}
			p.logger.Info("webhook delivery failed", "webhook", id, "delivery", d.ID, "attempt", a.Attempt,
				"status", a.StatusCode, "err", a.Error, "retry_at", retryAt)
			if p.cfg.DisableAfter > 0 && failures >= p.cfg.DisableAfter {
				disabled, err := p.disabler.Disable(context.WithoutCancel(ctx), id, failures, a.Error)
				if err != nil {
					return false, err
				}
				if disabled {
					p.mu.Lock()
					p.disabled[id] = true
					p.mu.Unlock()
					p.logger.Warn("webhook disabled after failures in a row", "webhook", id, "failures", failures)
					return false, nil
				}
			}
			break // the same delivery again, after its backoff: order is kept
		}
	}
	return false, nil
}

// Delivered attempts are committed together every recordEvery; the
// delivery log is pruned every pruneEvery.
const (
	recordEvery = 100 * time.Millisecond
	pruneEvery  = time.Hour
)

func (p *Pool) isDisabled(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.disabled[id]
}

// attempt sends one delivery and says how it went.
func (p *Pool) attempt(ctx context.Context, ep commands.WebhookEndpoint, d commands.WebhookDelivery) commands.WebhookAttempt {
	start := p.now()
	r := p.sender.Send(ctx, ep.URL, ep.Secret, d.ID, d.EventType, d.EventID, d.Payload)
	a := commands.WebhookAttempt{WebhookID: d.WebhookID, DeliveryID: d.ID, EventID: d.EventID, EventType: d.EventType, Attempt: d.Attempts + 1,
		StatusCode: r.StatusCode, Duration: p.now().Sub(start), At: start.UTC(), Delivered: r.Delivered()}
	if r.Err != nil {
		a.Error = r.Err.Error()
		if len(a.Error) > 500 {
			a.Error = a.Error[:500]
		}
	}
	return a
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
