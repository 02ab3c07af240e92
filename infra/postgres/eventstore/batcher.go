package eventstore

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// batcher lets many concurrent appends share one transaction: group commit.
// One event per transaction is capped by fsync at a few thousand events per
// second here; a transaction of many requests pays that cost once.
//
// Each writer has a queue of its own, and a stream always goes to the same
// writer (by a hash of its name): two writers' transactions never lock the
// same stream, so they commit side by side instead of one waiting for the
// other's stream locks.
type batcher struct {
	store     *Store
	queues    []chan *appendRequest
	maxEvents int
	wg        sync.WaitGroup
	mu        sync.RWMutex // held for reading while enqueuing; close takes it to stop enqueues
	closed    bool
	closing   chan struct{}
	metrics   *batchMetrics
}

// BatcherConfig tunes a Store's group commit.
type BatcherConfig struct {
	// Writers is how many transactions may be in flight at once (default 2):
	// while one commits, the next batch gathers.
	Writers int
	// MaxEvents bounds the events of one transaction, a telemetry batch
	// counting its items (default 5000).
	MaxEvents int
	// QueueSize bounds the requests waiting for the writers (default 1024).
	QueueSize int
}

// newBatcher starts writers appending through store. close stops them after
// the queued requests are written.
func newBatcher(store *Store, cfg BatcherConfig) *batcher {
	if cfg.Writers <= 0 {
		cfg.Writers = 2
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 5000
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	b := &batcher{store: store, maxEvents: cfg.MaxEvents, closing: make(chan struct{}), metrics: newBatchMetrics()}
	for range cfg.Writers {
		queue := make(chan *appendRequest, max(cfg.QueueSize/cfg.Writers, 1))
		b.queues = append(b.queues, queue)
		b.wg.Add(1)
		go b.write(queue)
	}
	return b
}

// queueOf is the queue of the writer that writes stream.
func (b *batcher) queueOf(stream string) chan *appendRequest {
	h := fnv.New32a()
	h.Write([]byte(stream))
	return b.queues[h.Sum32()%uint32(len(b.queues))]
}

// append queues req for the next shared transaction and waits for its
// outcome. If ctx ends first the caller gets ctx's error; a request still
// queued then is not written, but one already in a transaction may be stored:
// a retry with the same ids is then a duplicate.
func (b *batcher) append(ctx context.Context, req *appendRequest) (domain.AppendResult, error) {
	req.caller, req.queuedAt = ctx, time.Now()
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		// Closing: write it directly rather than lose it.
		return b.store.appendAlone(ctx, req)
	}
	select {
	case b.queueOf(req.stream) <- req:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return domain.AppendResult{}, ctx.Err()
	}
	select {
	case <-req.done:
		return req.result, req.err
	case <-ctx.Done():
		return domain.AppendResult{}, ctx.Err()
	}
}

func (b *batcher) write(queue chan *appendRequest) {
	defer b.wg.Done()
	for {
		var first *appendRequest
		select {
		case first = <-queue:
		case <-b.closing:
			// Drain what is queued, then stop.
			select {
			case first = <-queue:
			default:
				return
			}
		}
		batch := []*appendRequest{first}
		events := first.size()
	gather:
		for events < b.maxEvents {
			select {
			case r := <-queue:
				batch = append(batch, r)
				events += r.size()
			default:
				break gather
			}
		}
		// A caller that stopped waiting has answered its client already
		// (a timeout: retry); writing its request now would store the retry
		// twice when it carries no ids.
		live := batch[:0]
		for _, r := range batch {
			if err := r.caller.Err(); err != nil {
				r.err = err
				close(r.done)
				continue
			}
			live = append(live, r)
		}
		if len(live) == 0 {
			continue
		}
		b.metrics.observe(live)
		// The transaction is the writer's, not any one caller's: a caller
		// that gives up now must not abort the others' commit.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		b.store.appendBatch(ctx, live)
		cancel()
		for _, r := range live {
			close(r.done)
		}
	}
}

// close stops the writers once the queue is written.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.closing)
	}
	b.mu.Unlock()
	b.wg.Wait()
}
