package readapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// FreshnessStore says how recent the read models are.
type FreshnessStore interface {
	// Freshness returns when the read models were last written (the
	// read-model projection's checkpoint time; on a hot standby, as
	// replayed there), or the zero time if they never were.
	Freshness(ctx context.Context) (time.Time, error)
}

// DataAsOfHeader is the response header that carries the read models'
// freshness, in RFC 3339 with milliseconds, so a dashboard can show how
// old what it draws may be. It is absent while nothing was ever projected.
const DataAsOfHeader = "Fleetpulse-Data-As-Of"

// freshnessMaxAge is how long one reading of the checkpoint time serves
// every answer: the header is at most this much older than the database.
const freshnessMaxAge = time.Second

// freshness caches the read models' freshness and sets DataAsOfHeader on
// every answer. One request at a time refreshes a stale value; the others
// go on with the old one, so a slow database never queues them here.
type freshness struct {
	store  FreshnessStore
	logger *slog.Logger

	mu         sync.Mutex
	asOf       time.Time
	readAt     time.Time // monotonic; zero before the first reading
	refreshing bool
}

func newFreshness(store FreshnessStore, logger *slog.Logger) *freshness {
	return &freshness{store: store, logger: logger}
}

// header is the middleware that sets DataAsOfHeader.
func (f *freshness) header(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asOf := f.get(r.Context()); !asOf.IsZero() {
			w.Header().Set(DataAsOfHeader, asOf.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		}
		next.ServeHTTP(w, r)
	})
}

// get returns the cached freshness, reading it again when it is older
// than freshnessMaxAge and no other request is already doing so.
func (f *freshness) get(ctx context.Context) time.Time {
	f.mu.Lock()
	if f.refreshing || (!f.readAt.IsZero() && time.Since(f.readAt) < freshnessMaxAge) {
		defer f.mu.Unlock()
		return f.asOf
	}
	f.refreshing = true
	f.mu.Unlock()

	asOf, err := f.store.Freshness(ctx)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshing = false
	f.readAt = time.Now()
	if err != nil {
		// The answer goes out without the header rather than with a wrong
		// one; the request's own query reports the database's trouble.
		f.logger.Warn("read models' freshness unknown", "err", err)
		f.asOf = time.Time{}
		return f.asOf
	}
	f.asOf = asOf
	return f.asOf
}
