package webhooktest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// TestWebhooks_LoadHealthyEndpointsGetEveryAlertInTime is the measurement
// of docs/benchmarks.md, run only when FLEETPULSE_WEBHOOK_LOAD=1: 100
// endpoints, 10 of them answering after 5 s and 10 always failing, while
// alerts fire at FLEETPULSE_WEBHOOK_LOAD_RATE per second (default 5) for
// FLEETPULSE_WEBHOOK_LOAD_SECONDS (default 30). Every healthy endpoint must
// get every alert; it reports the delay from the alert's commit to its
// arrival (p50, p99, max) and fails when p99 is over 2 s.
func TestWebhooks_LoadHealthyEndpointsGetEveryAlertInTime(t *testing.T) {
	if os.Getenv("FLEETPULSE_WEBHOOK_LOAD") != "1" {
		t.Skip("set FLEETPULSE_WEBHOOK_LOAD=1 to run the webhook load measurement")
	}
	rate := envInt("FLEETPULSE_WEBHOOK_LOAD_RATE", 5)
	seconds := envInt("FLEETPULSE_WEBHOOK_LOAD_SECONDS", 30)
	const endpoints, slowN, failingN = 100, 10, 10
	h := newHarness(t, settings{disableAfter: 1_000_000, timeout: 10 * time.Second, retryMin: time.Second, pollInterval: 250 * time.Millisecond})

	var mu sync.Mutex
	committed := map[string]time.Time{}                // event id -> when its append returned
	arrived := make([]map[string]time.Time, endpoints) // per endpoint: event id -> first arrival
	duplicates := 0
	release := make(chan struct{})
	for i := range endpoints {
		arrived[i] = map[string]time.Time{}
		i := i
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := time.Now()
			switch {
			case i < slowN:
				select {
				case <-time.After(5 * time.Second):
				case <-release:
				}
			case i < slowN+failingN:
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			id := r.Header.Get("Fleetpulse-Event-Id")
			mu.Lock()
			if _, seen := arrived[i][id]; seen {
				duplicates++
			} else {
				arrived[i][id] = now
			}
			mu.Unlock()
		}))
		defer srv.Close()
		h.register(srv.URL, secret, nil, nil)
	}
	defer close(release) // runs before the servers close

	// When each event becomes readable in the log, seen by a reader of
	// its own: the part of the delay that is the log's, not the webhooks'.
	readable := map[string]time.Time{}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		pos := domain.Start
		for watchCtx.Err() == nil {
			recs, err := h.store.ReadAfter(watchCtx, pos, 1000)
			now := time.Now()
			if err == nil && len(recs) > 0 {
				mu.Lock()
				for _, r := range recs {
					readable[r.ID] = now
				}
				mu.Unlock()
				pos = recs[len(recs)-1].Position
				continue
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	total := rate * seconds
	tick := time.NewTicker(time.Second / time.Duration(rate))
	start := time.Now()
	for n := range total {
		<-tick.C
		dev := fmt.Sprintf("dev-%d", n%20)
		at := start.Add(time.Duration(n) * time.Millisecond)
		var e domain.Event = raised(dev, at)
		if n%2 == 1 {
			e = cleared(dev, at)
		}
		id := h.raise(dev, e)
		mu.Lock()
		committed[id] = time.Now()
		mu.Unlock()
	}
	tick.Stop()
	fired := time.Since(start)
	healthy := endpoints - slowN - failingN
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := 0
		for i := slowN + failingN; i < endpoints; i++ {
			got += len(arrived[i])
		}
		mu.Unlock()
		if got == healthy*total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthy endpoints got %d of %d deliveries", got, healthy*total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopWatch()
	<-watched
	mu.Lock()
	defer mu.Unlock()
	var delays, visible, afterVisible []time.Duration
	for i := slowN + failingN; i < endpoints; i++ {
		for id, at := range arrived[i] {
			delays = append(delays, at.Sub(committed[id]))
			if r, ok := readable[id]; ok {
				afterVisible = append(afterVisible, at.Sub(r))
			}
		}
	}
	for id, c := range committed {
		if r, ok := readable[id]; ok {
			visible = append(visible, r.Sub(c))
		}
	}
	for _, d := range [][]time.Duration{delays, visible, afterVisible} {
		slices.Sort(d)
	}
	quantile := func(d []time.Duration, p float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		return d[int(p*float64(len(d)-1))].Round(time.Millisecond)
	}
	q := func(p float64) time.Duration { return quantile(delays, p) }
	t.Logf("of which: commit -> readable in the log p50 %s p99 %s max %s; readable -> arrival p50 %s p99 %s max %s",
		quantile(visible, .5), quantile(visible, .99), quantile(visible, 1), quantile(afterVisible, .5), quantile(afterVisible, .99), quantile(afterVisible, 1))
	slowGot := 0
	for i := range slowN {
		slowGot += len(arrived[i])
	}
	t.Logf("%d alerts in %s (%d/s) to %d endpoints (%d slow 5 s, %d failing): %d healthy deliveries, duplicates %d; delay commit->arrival p50 %s p99 %s max %s; slow endpoints got %d meanwhile",
		total, fired.Round(time.Millisecond), rate, endpoints, slowN, failingN, len(delays), duplicates,
		q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), delays[len(delays)-1].Round(time.Millisecond), slowGot)
	if q(0.99) > 2*time.Second {
		t.Errorf("p99 delay %s is over the 2 s target", q(0.99))
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
