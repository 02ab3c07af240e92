package readapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// EventFeed is the event log as /v1/feed reads it: the event store's own
// ordered read (infra/postgres/eventstore.Store, or infra/esdb's), which
// never returns an event behind one it returned before, so a consumer that
// resumes after the last position it saw misses nothing.
type EventFeed interface {
	// ReadAfter returns up to max events that follow after, in log order.
	ReadAfter(ctx context.Context, after domain.Position, max int) ([]domain.RecordedEvent, error)
	// Wait returns when an append may have committed, after a polling
	// interval, or when ctx ends.
	Wait(ctx context.Context)
}

// errFeedUnavailable: a read API without an event store (one reading a hot
// standby) has no feed.
var errFeedUnavailable = errors.New("event feed unavailable")

// Feed limits.
const (
	feedDefaultLimit = 1000
	feedMaxLimit     = 10_000
	feedMaxWait      = 30 // seconds
	// feedMaxReads bounds the reads of one request that skips events a
	// scoped key or a types filter leaves out.
	feedMaxReads = 10
)

// feedPage is the answer of /v1/feed.
type feedPage struct {
	Events []domain.IntegrationEvent `json:"events"`
	Next   string                    `json:"next"`
}

// feed answers the integration events after a position, in log order.
// A scoped key sees only its devices' events (the others are skipped, and
// next still moves past them); wait=N long-polls up to N seconds when
// nothing follows the position.
func (a *api) feed(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Feed == nil {
		writeError(w, refuse(errFeedUnavailable, "this read API reads a standby and has no event store: read the feed from one that reads the primary"))
		return
	}
	q := query{vals: r.URL.Query()}
	after := domain.Start
	if v := q.get("after"); v != "" {
		p, err := domain.ParseFeedPosition(v)
		if err != nil {
			q.fail("after: %v", err)
		}
		after = p
	}
	var types []string
	if v := q.get("types"); v != "" {
		for _, t := range strings.Split(v, ",") {
			if !domain.IsFeedType(t) {
				q.fail("types: %q is not an event type of the feed (%s)", t, strings.Join(domain.FeedTypes(), ", "))
			}
			types = append(types, t)
		}
	}
	limit := q.intIn("limit", feedDefaultLimit, 1, feedMaxLimit)
	wait := time.Duration(q.intIn("wait", 0, 0, feedMaxWait)) * time.Second
	if q.err != nil {
		writeError(w, q.err)
		return
	}
	// A long poll ends before the request's time limit does.
	if a.cfg.RequestTimeout > 0 && wait > a.cfg.RequestTimeout-time.Second {
		wait = max(0, a.cfg.RequestTimeout-time.Second)
	}
	scope := scopeOf(r.Context())
	keep := func(e domain.IntegrationEvent) bool {
		return (types == nil || slices.Contains(types, e.Type)) && (scope == nil || slices.Contains(scope, e.DeviceID))
	}

	ctx := r.Context()
	deadline := time.Now().Add(wait)
	page := feedPage{Events: []domain.IntegrationEvent{}}
	next := after
	for reads := 0; reads < feedMaxReads; {
		batch, err := a.cfg.Feed.ReadAfter(ctx, next, limit)
		if err != nil {
			writeError(w, err)
			return
		}
		if len(batch) == 0 {
			if len(page.Events) > 0 || next != after || !time.Now().Before(deadline) {
				break
			}
			waitCtx, cancel := context.WithDeadline(ctx, deadline)
			a.cfg.Feed.Wait(waitCtx)
			cancel()
			if ctx.Err() != nil {
				writeError(w, ctx.Err())
				return
			}
			continue
		}
		reads++
		for _, rec := range batch {
			next = rec.Position
			e, ok, err := domain.Integration(rec)
			if err != nil {
				a.logger.Error("feed: event not published: it does not decode", "event", rec.ID, "position", rec.Position, "err", err)
				continue
			}
			if ok && keep(e) {
				page.Events = append(page.Events, e)
			}
		}
		// Another read only when this one was full and all of it left out.
		if len(page.Events) > 0 || len(batch) < limit {
			break
		}
	}
	page.Next = domain.FeedPosition(next)
	writeFeedPage(w, page)
}

// writeFeedPage writes a page as httpx.WriteJSON would, each event with
// IntegrationEvent.AppendJSON: encoding/json's reflection and its
// re-checking of every event's data would cost as much as reading them.
func writeFeedPage(w http.ResponseWriter, page feedPage) {
	b := make([]byte, 0, 64+len(page.Events)*256)
	b = append(b, `{"events":[`...)
	for i, e := range page.Events {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendJSON(b)
	}
	b = append(b, `],"next":"`...)
	b = append(b, page.Next...) // digits and '-' only
	b = append(b, "\"}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b) // the client may be gone; nothing to do then
}
