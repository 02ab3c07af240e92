package faulttest

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// ledger is what devices were told: every (station, client id) a 2xx
// acknowledged, and how requests went.
type ledger struct {
	mu           sync.Mutex
	acked        map[string]bool // "<station>/<id>"
	posts        int             // requests sent, retries included
	retries      int
	transport    int // no answer: refused, reset, timed out
	unavailable  int // 5xx answers
	ackedDupes   int // 2xx answers reporting duplicates: an earlier try was stored but its answer lost
	drainedAtEnd int // 2xx answers to requests in flight at a SIGTERM
}

func newLedger() *ledger { return &ledger{acked: map[string]bool{}} }

func (l *ledger) ack(station string, ms []measurement, a answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range ms {
		l.acked[station+"/"+m.ID] = true
	}
	if a.number("duplicates") > 0 {
		l.ackedDupes++
	}
}

func (l *ledger) note(a answer, retry bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.posts++
	if retry {
		l.retries++
	}
	switch {
	case a.err != nil:
		l.transport++
	case a.status >= 500:
		l.unavailable++
	}
}

// postUntilAcknowledged posts one batch the way a device does: on no answer
// or a 5xx/429 it sends the very same batch (same ids) again, until a 2xx
// or until giveUp. It returns the acknowledging answer, or false.
func postUntilAcknowledged(t *testing.T, client *http.Client, base string, d device, ms []measurement, l *ledger, giveUp time.Duration) (answer, bool) {
	deadline := time.Now().Add(giveUp)
	for attempt := 0; ; attempt++ {
		a := postMeasurements(client, base, d, ms)
		l.note(a, attempt > 0)
		if a.ok() {
			if got := a.number("accepted") + a.number("duplicates"); got != len(ms) {
				t.Errorf("post to %s: accepted + duplicates = %d, want %d: %v", d.id, got, len(ms), a)
			}
			l.ack(d.id, ms, a)
			return a, true
		}
		if !retryable(a) {
			t.Errorf("post to %s: %v; a device cannot retry that", d.id, a)
			return a, false
		}
		if time.Now().After(deadline) {
			t.Errorf("post to %s: no 2xx within %s of retrying; last answer: %v", d.id, giveUp, a)
			return a, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logMatchesTheLedger checks the log against what devices were told: every
// acknowledged measurement is stored, and no client id is stored twice. With
// exact, the log holds nothing else either.
func logMatchesTheLedger(t *testing.T, pool *pgxpool.Pool, l *ledger, exact bool) {
	t.Helper()
	stored := measurementIDs(t, pool)
	var lost, twice, unacked []string
	for id := range l.acked {
		if stored[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id, n := range stored {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%s x%d", id, n))
		}
		if !l.acked[id] {
			unacked = append(unacked, id)
		}
	}
	sort.Strings(lost)
	sort.Strings(twice)
	sort.Strings(unacked)
	if len(lost) > 0 {
		t.Errorf("%d acknowledged measurements are not in the log, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if len(twice) > 0 {
		t.Errorf("%d client ids are stored more than once, e.g. %v", len(twice), twice[:min(5, len(twice))])
	}
	if exact && len(unacked) > 0 {
		t.Errorf("%d measurements are in the log though no request storing them got a 2xx, e.g. %v", len(unacked), unacked[:min(5, len(unacked))])
	}
}

func TestCommandAPI_SIGKILLNeverLosesAnAcknowledgedRequestNorStoresOneTwice(t *testing.T) {
	rng := newRand(t)
	pool, pgURL := pgtest.NewDatabase(t)
	api := commandAPISpec(t, pgURL, nil)
	current := api.startReady(t)
	client := newClient(5 * time.Second)
	var stations []device
	for i := 0; i < 4; i++ {
		stations = append(stations, registerStation(t, client, api.url(), fmt.Sprintf("st-%d", i), "Europe/Warsaw"))
	}

	l := newLedger()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients, perPost, maxBatches = 8, 10, 2000
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int, rng *rand.Rand) {
			defer wg.Done()
			d := stations[c%len(stations)]
			for b := 0; b < maxBatches; b++ {
				select {
				case <-stop:
					return
				default:
				}
				ms := measurements(rng, fmt.Sprintf("c%d-b%d", c, b), perPost)
				if _, ok := postUntilAcknowledged(t, client, api.url(), d, ms, l, 30*time.Second); !ok {
					return
				}
			}
		}(c, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
	}
	stopClients := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopClients()

	// Kill the process at random moments; restart it on the same port as a
	// supervisor would.
	const kills = 10
	var restarts []time.Duration
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		current.kill(t)
		down := time.Now()
		current = api.start(t)
		current.waitReady(t, api.url(), 20*time.Second)
		restarts = append(restarts, time.Since(down))
	}
	time.Sleep(200 * time.Millisecond)
	stopClients()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.transport+l.unavailable == 0 {
		t.Fatalf("no request failed in %d kills; the kills tested nothing", kills)
	}
	// Each device retried until it got a 2xx, so the log holds exactly the
	// acknowledged measurements.
	logMatchesTheLedger(t, pool, l, true)
	// Every restarted process authenticated the devices from the log, which
	// holds hashes of their tokens, never the secrets.
	noTokenSecretIsStored(t, pool, stations)
	t.Logf("%d SIGKILLs (restart to ready: %s); %d requests, %d retries (%d unanswered, %d 5xx); %d measurements acknowledged, each stored once; %d retries were acknowledged as duplicates (stored before the kill, answer lost)",
		kills, durations(restarts), l.posts, l.retries, l.transport, l.unavailable, len(l.acked), l.ackedDupes)
}

func TestCommandAPI_SIGTERMDrainsInFlightRequests(t *testing.T) {
	rng := newRand(t)
	pool, pgURL := pgtest.NewDatabase(t)
	// Above 5 s: an unused pre-dialed client connection holds Shutdown for
	// up to 5 s (see TestSIGTERMWithAnIdleClientConnection...), a separate bug.
	const shutdownTimeout = 8 * time.Second
	api := commandAPISpec(t, pgURL, map[string]string{"FLEETPULSE_SHUTDOWN_TIMEOUT": shutdownTimeout.String()})
	p := api.startReady(t)
	client := newClient(10 * time.Second)
	var stations []device
	for i := 0; i < 4; i++ {
		stations = append(stations, registerStation(t, client, api.url(), fmt.Sprintf("st-%d", i), ""))
	}

	// A burst: many devices posting at once, each as fast as answers come.
	const workers, maxPosts, perPost = 16, 200, 100
	l := newLedger()
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		answered  int
		sigterm   time.Time
		refused   int
		oddAnswer []string
		started   = make(chan struct{})
		startOnce sync.Once
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int, rng *rand.Rand) {
			defer wg.Done()
			d := stations[w%len(stations)]
			for i := 0; i < maxPosts; i++ {
				ms := measurements(rng, fmt.Sprintf("w%d-%d", w, i), perPost)
				sent := time.Now()
				a := postMeasurements(client, api.url(), d, ms)
				received := time.Now()
				l.note(a, false)
				mu.Lock()
				answered++
				if answered >= 3*workers {
					startOnce.Do(func() { close(started) })
				}
				inFlightAtSIGTERM := !sigterm.IsZero() && sent.Before(sigterm) && received.After(sigterm)
				mu.Unlock()
				switch {
				case a.ok():
					l.ack(d.id, ms, a)
					if inFlightAtSIGTERM {
						l.mu.Lock()
						l.drainedAtEnd++
						l.mu.Unlock()
					}
				case a.err != nil:
					// The listener is closed: a clear failure, nothing promised.
					mu.Lock()
					refused++
					mu.Unlock()
					return
				case a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") != "" && a.errorCode() != "":
					// A clear "retry later"; nothing promised either.
				default:
					mu.Lock()
					oddAnswer = append(oddAnswer, a.String())
					mu.Unlock()
				}
			}
		}(w, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the burst did not get going")
	}
	time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	mu.Lock()
	sigterm = time.Now()
	mu.Unlock()
	code, took := p.terminate(t, shutdownTimeout+2*time.Second)
	wg.Wait()
	if code != 0 {
		t.Errorf("command-api exit code after SIGTERM = %d (-1: still running after %s), want 0; its log ends:\n%s",
			code, shutdownTimeout+2*time.Second, p.logTail(3))
	}
	if len(oddAnswer) > 0 {
		t.Errorf("%d requests got neither a 2xx, a clear 503 nor a connection error while the server drained, e.g. %v",
			len(oddAnswer), strings.Join(oddAnswer[:min(3, len(oddAnswer))], "; "))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drainedAtEnd == 0 {
		t.Errorf("no request in flight at SIGTERM got its 2xx: in-flight requests were not drained (or the SIGTERM missed the burst)")
	}
	logMatchesTheLedger(t, pool, l, false)
	t.Logf("SIGTERM after %d answers: exit %d in %s; %d requests in flight at SIGTERM got their 2xx and are stored; %d got no connection; %d measurements acknowledged in all",
		answered, code, took.Round(time.Millisecond), l.drainedAtEnd, refused, len(l.acked))
}

// noTokenSecretIsStored checks that no device token's secret appears in the
// log or in any read model.
func noTokenSecretIsStored(t *testing.T, pool *pgxpool.Pool, devices []device) {
	t.Helper()
	tables := append([]string{"events"}, readModelTables(t, pool)...)
	for _, d := range devices {
		secret := d.token[strings.LastIndexByte(d.token, '.')+1:]
		if len(secret) < 16 {
			t.Fatalf("token of %s has no secret part: %q", d.id, d.token)
		}
		for _, table := range tables {
			id := pgx.Identifier{table}.Sanitize()
			if n := count(t, pool, `SELECT count(*) FROM `+id+` r WHERE strpos(r::text, $1) > 0`, secret); n > 0 {
				t.Errorf("%s holds the token secret of %s in %d rows; only its hash may be stored", table, d.id, n)
			}
		}
	}
}

func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return fmt.Sprintf("median %s, max %s", sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
}
