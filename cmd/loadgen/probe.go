package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// prober measures projection lag. Every tick asks for a probe; the next
// batch sent carries one measurement of type "probe" at a unique instant,
// and once the batch is accepted the read API's raw points are polled until
// that instant shows up.
type prober struct {
	// ctx bounds every poll: the run and its drain, but not SIGINT, so
	// probes in flight are still timed when the load is cut short.
	ctx     context.Context
	client  *http.Client
	readURL string
	win     *window // nil unless -report-every

	due                    chan struct{}
	polls                  sync.WaitGroup
	fromAccepted, fromSent samples // lag from the 201 and from the send
	timeouts               atomic.Int64
}

// probe is one probe measurement, sent and created (201) at the given times.
type probe struct {
	station       string
	at            time.Time
	sent, created time.Time
}

func newProber(ctx context.Context, client *http.Client, readURL string, win *window) *prober {
	return &prober{ctx: ctx, client: client, readURL: readURL, win: win, due: make(chan struct{}, 1)}
}

// request asks for a probe; one is pending at most.
func (p *prober) request() {
	select {
	case p.due <- struct{}{}:
	default:
	}
}

// take turns the first measurement of a batch into a probe when one is due.
func (p *prober) take(ms []measurement, station string, now time.Time) *probe {
	select {
	case <-p.due:
		at := now.Truncate(time.Microsecond)
		ms[0] = measurement{id: ms[0].id + "-probe", typ: "probe", value: 1, at: at}
		return &probe{station: station, at: at}
	default:
		return nil
	}
}

// follow times an accepted probe in the background.
func (p *prober) follow(pr probe) {
	p.polls.Go(func() {
		seen, ok := p.poll(pr)
		if !ok {
			p.timeouts.Add(1)
			return
		}
		p.fromAccepted.add(seen.Sub(pr.created))
		if p.win != nil {
			p.win.lag.add(seen.Sub(pr.created))
		}
		p.fromSent.add(seen.Sub(pr.sent))
	})
}

// poll returns when the read API first showed the probe; false if it never
// did before the prober's ctx ended.
func (p *prober) poll(pr probe) (time.Time, bool) {
	q := url.Values{"type": {"probe"}, "from": {pr.at.Format(time.RFC3339Nano)},
		"to": {pr.at.Add(time.Microsecond).Format(time.RFC3339Nano)}}
	u := p.readURL + "/v1/stations/" + pr.station + "/measurements?" + q.Encode()
	for p.ctx.Err() == nil {
		var out struct {
			Points []struct{} `json:"points"`
		}
		st, err := get(p.ctx, p.client, u, &out)
		if err == nil && st == http.StatusOK && len(out.Points) > 0 {
			return time.Now(), true
		}
		// Poll every 10 ms at first, then at 5 % of the wait so far: the
		// lag stays measured to within ~5 %, and a system that has fallen
		// behind is not also flooded by its own probes' polling.
		wait := max(10*time.Millisecond, min(time.Since(pr.created)/20, 500*time.Millisecond))
		select {
		case <-p.ctx.Done():
		case <-time.After(wait):
		}
	}
	return time.Time{}, false
}

// catchUp posts one more probe after the load stopped and returns how many
// seconds it took to show: -1 if it never did, 0 if it was not accepted.
func (p *prober) catchUp(ctx context.Context, commandURL string, s station, prefix string) float64 {
	fmt.Fprintln(os.Stderr, "load stopped; waiting for the read models to catch up...")
	start := time.Now()
	at := start.Truncate(time.Microsecond)
	body := appendBatch(nil, []measurement{{id: prefix + "-final-probe", typ: "probe", value: 1, at: at}})
	if _, st, err := postBatch(context.WithoutCancel(ctx), p.client, commandURL, s, body); err != nil || st != http.StatusCreated {
		return 0
	}
	seen, ok := p.poll(probe{station: s.id, at: at, created: start})
	if !ok {
		return -1
	}
	return seen.Sub(start).Seconds()
}

// wait returns once every followed probe was seen or given up on.
func (p *prober) wait() { p.polls.Wait() }
