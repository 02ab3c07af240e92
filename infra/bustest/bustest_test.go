// Package bustest runs the distributed command bus as real processes on
// loopback: two command APIs and two command workers per backend, a worker
// SIGKILLed mid-stream and restarted, and a check that every acknowledged
// measurement is in the log exactly once.
package bustest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

const natsURL = "nats://127.0.0.1:4222"

var bins struct {
	once        sync.Once
	dir         string
	api, worker string
	err         error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// binaries builds the command API and worker once per test binary.
func binaries(t *testing.T) (api, worker string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "fleetpulse-bustest-")
		if bins.err != nil {
			return
		}
		bins.api, bins.worker = filepath.Join(bins.dir, "command-api"), filepath.Join(bins.dir, "command-worker")
		for out, pkg := range map[string]string{bins.api: "../../cmd/command-api", bins.worker: "../../cmd/command-worker"} {
			cmd := exec.Command("go", "build", "-o", out, pkg)
			if b, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.api, bins.worker
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one fleetpulse process under test.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	addr string
	done chan struct{}
}

func start(t *testing.T, name, bin, addrVar string, env []string) *proc {
	t.Helper()
	return startWithin(t, name, bin, addrVar, env, 20*time.Second)
}

// startWithin starts a process and waits up to within for its health.
func startWithin(t *testing.T, name, bin, addrVar string, env []string, within time.Duration) *proc {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), addrVar+"="+addr)
	p := launch(t, name, cmd, addr)
	p.waitHealthy(t, within)
	return p
}

// launch starts cmd, whose health answers on http://addr/healthz, and
// stops it when the test ends.
func launch(t *testing.T, name string, cmd *exec.Cmd, addr string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, out: &bytes.Buffer{}, addr: addr, done: make(chan struct{})}
	lw := &lockedWriter{w: p.out}
	p.cmd.Stdout, p.cmd.Stderr = lw, lw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// waitHealthy polls /healthz until it answers 200.
func (p *proc) waitHealthy(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited at start:\n%s", p.name, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", p.name, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) output() string {
	w := p.cmd.Stderr.(*lockedWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the process with SIGTERM, then SIGKILL if it does not exit.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	began := time.Now()
	select {
	case <-p.done:
		if d := time.Since(began); d > 3*time.Second {
			t.Logf("%s took %v to stop", p.name, d.Round(time.Millisecond))
		}
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop on SIGTERM", p.name)
		p.kill()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// client bounds every request: a request that hangs is a refusal the
// device retries, never a test that waits for ever.
var client = &http.Client{Timeout: 15 * time.Second}

func post(url, token, body string, out any) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

func TestCommandBus_NATS_KilledWorkerLosesAndDuplicatesNothing(t *testing.T) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
	if err != nil {
		t.Skipf("NATS is not reachable on 127.0.0.1:4222 (%v): skipping the multi-process NATS command bus test", err)
	}
	c.Close()
	t.Parallel()
	prefix := "t" + randomHex(4)
	t.Cleanup(func() { deleteStreams(t, prefix) })
	killedWorkerScenario(t, "nats", prefix)
}

func TestCommandBus_Postgres_KilledWorkerLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	killedWorkerScenario(t, "postgres", "t"+randomHex(4))
}

// deleteStreams removes the JetStream streams of a test's prefix.
func deleteStreams(t *testing.T, prefix string) {
	conn, err := nats.Connect(natsURL)
	if err != nil {
		t.Errorf("clean up streams: %v", err)
		return
	}
	defer conn.Close()
	js, err := conn.JetStream()
	if err != nil {
		t.Errorf("clean up streams: %v", err)
		return
	}
	for name := range js.StreamNames() {
		if strings.HasPrefix(name, prefix+"_") {
			if err := js.DeleteStream(name); err != nil {
				t.Errorf("delete stream %s: %v", name, err)
			}
		}
	}
}

func killedWorkerScenario(t *testing.T, backend, prefix string) {
	r := startBusRun(t, backend, prefix, natsURL)
	const clients, batches, perBatch = 8, 30, 50
	// Kill a worker mid-stream, then start it again; then the other one,
	// so the kill surely hits the worker that is busy (on PostgreSQL one
	// worker per command type is active, the other stands by).
	r.send(clients, batches, perBatch, func() {
		for i, w := range r.workers[:2] {
			if !r.waitAcked(clients * batches / 4) {
				return
			}
			w.kill()
			time.Sleep(300 * time.Millisecond)
			start(t, fmt.Sprintf("worker-%d-again", i+1), r.worker, "FLEETPULSE_WORKER_ADDR", r.env)
		}
	})
	t.Logf("%s: %d batches retried, %d measurements reported as duplicates, slowest batch %v",
		backend, r.retries, r.duplicates, r.slowest().Round(time.Millisecond))
	if t.Failed() {
		return
	}
	r.storedExactlyOnce(clients * batches * perBatch)
}

// busRun is two command workers and two command APIs on one distributed
// bus and a database of their own, with devices that send batches of
// measurements with client ids through both APIs, and the ledger of what
// each device was told.
type busRun struct {
	t       *testing.T
	worker  string   // the worker binary, to start more
	env     []string // every process's environment
	pool    *pgxpool.Pool
	workers []*proc
	apis    []*proc
	tokens  []string

	progress chan struct{} // one value per acknowledged batch
	sent     chan struct{} // closed when every device has stopped sending
	mu       sync.Mutex
	acked    map[string]bool // "st-<client>/<measurement id>"
	batches  []batch         // every acknowledged batch
	// retries and duplicates show the disturbance did hit commands in flight.
	retries, duplicates int
	refusals            map[string]int // what the retried requests got: status or error, counted
	refused             []time.Time    // when each retried request got its answer
}

// batch is one acknowledged batch: when its first attempt was sent, when it
// was acknowledged, after how many attempts.
type batch struct {
	began, acked time.Time
	attempts     int
}

// startBusRun starts the processes (workers first: they create the bus's
// streams and tables) with the bus at natsURL (nats) or in the database
// (postgres).
func startBusRun(t *testing.T, backend, prefix, natsURL string, extraEnv ...string) *busRun {
	t.Helper()
	api, worker := binaries(t)
	pool, dbURL := pgtest.NewDatabase(t)
	r := &busRun{t: t, worker: worker, pool: pool, acked: map[string]bool{}, refusals: map[string]int{}}
	r.env = append([]string{
		"FLEETPULSE_PG_URL=" + dbURL,
		"FLEETPULSE_PG_MAX_CONNS=8",
		"FLEETPULSE_ADMIN_TOKEN=admin",
		"FLEETPULSE_COMMAND_BUS=" + backend,
		"FLEETPULSE_NATS_URL=" + natsURL,
		"FLEETPULSE_BUS_PREFIX=" + prefix,
		"FLEETPULSE_BUS_ACK_WAIT=2s",
		"FLEETPULSE_REQUEST_TIMEOUT=4s",
		"FLEETPULSE_DEVICE_RATE=100000",
		"FLEETPULSE_DEVICE_BURST=100000",
		"FLEETPULSE_LOG_LEVEL=warn",
	}, extraEnv...)
	// The first worker creates the streams: on a JetStream cluster under
	// load each takes a second or so to elect its leader.
	r.workers = []*proc{
		startWithin(t, "worker-1", worker, "FLEETPULSE_WORKER_ADDR", r.env, time.Minute),
		start(t, "worker-2", worker, "FLEETPULSE_WORKER_ADDR", r.env),
	}
	r.apis = []*proc{
		start(t, "api-1", api, "FLEETPULSE_COMMAND_ADDR", r.env),
		start(t, "api-2", api, "FLEETPULSE_COMMAND_ADDR", r.env),
	}
	return r
}

// register registers one station per client, through both APIs in turn.
func (r *busRun) register(clients int) {
	t := r.t
	t.Helper()
	r.tokens = make([]string, clients)
	for i := range r.tokens {
		var reg struct{ Token string }
		st, err := post("http://"+r.apis[i%2].addr+"/v1/stations", "admin",
			fmt.Sprintf(`{"id": "st-%d", "name": "station %d", "location": {"lat": 50, "lon": 19}}`, i, i), &reg)
		if err != nil || st != 201 {
			var diag []string
			rows, _ := r.pool.Query(context.Background(), `SELECT coalesce(datname,'') || ' ' || state || ' ' || coalesce(backend_xid::text,'-') || ' ' ||
				coalesce(backend_xmin::text,'-') || ' ' || (now()-xact_start)::text || ' ' || left(query, 120)
				FROM pg_stat_activity WHERE xact_start IS NOT NULL ORDER BY xact_start`)
			for rows != nil && rows.Next() {
				var l string
				_ = rows.Scan(&l)
				diag = append(diag, l)
			}
			var cur string
			_ = r.pool.QueryRow(context.Background(), `SELECT pg_current_snapshot()::text`).Scan(&cur)
			t.Fatalf("register st-%d: %d %v\nsnapshot %s\n%s\nworker-1:\n%s\nworker-2:\n%s\napi:\n%s", i, st, err,
				cur, strings.Join(diag, "\n"), r.workers[0].output(), r.workers[1].output(), r.apis[i%2].output())
		}
		r.tokens[i] = reg.Token
	}
}

// send registers the clients, then each client is a device sending batches
// with client ids to both APIs in turn, retrying a batch (same ids) until
// it is acknowledged; disturb runs meanwhile (waitAcked paces it). send
// returns when every batch is acknowledged, or failed the test.
func (r *busRun) send(clients, batches, perBatch int, disturb func()) {
	t := r.t
	t.Helper()
	r.register(clients)
	r.progress = make(chan struct{}, clients*batches)
	r.sent = make(chan struct{})
	var wg sync.WaitGroup
	fails := make(chan error, clients)
	now := time.Now().UTC().Truncate(time.Second)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				items := make([]string, perBatch)
				ids := make([]string, perBatch)
				for i := range items {
					ids[i] = fmt.Sprintf("b%d-%d", b, i)
					items[i] = fmt.Sprintf(`{"id": %q, "type": "pm25", "value": %d, "measured_at": %q}`,
						ids[i], i, now.Add(-time.Duration(b*perBatch+i)*time.Second).Format(time.RFC3339))
				}
				body := `{"measurements": [` + strings.Join(items, ",") + `]}`
				began := time.Now()
				deadline := began.Add(60 * time.Second)
				for attempt := 0; ; attempt++ {
					var res struct{ Accepted, Duplicates int }
					st, err := post(fmt.Sprintf("http://%s/v1/stations/st-%d/measurements", r.apis[(b+attempt+c)%2].addr, c),
						r.tokens[c], body, &res)
					if err == nil && st == 201 {
						if res.Accepted+res.Duplicates != perBatch {
							fails <- fmt.Errorf("st-%d batch %d: %+v", c, b, res)
							return
						}
						r.mu.Lock()
						r.retries += attempt
						r.duplicates += res.Duplicates
						r.batches = append(r.batches, batch{began: began, acked: time.Now(), attempts: attempt + 1})
						for _, id := range ids {
							r.acked[fmt.Sprintf("st-%d/%s", c, id)] = true
						}
						r.mu.Unlock()
						break
					}
					r.mu.Lock()
					if err != nil {
						r.refusals[strings.TrimPrefix(fmt.Sprintf("%T", errors.Unwrap(err)), "*")]++
					} else {
						r.refusals[strconv.Itoa(st)]++
					}
					r.refused = append(r.refused, time.Now())
					r.mu.Unlock()
					if time.Now().After(deadline) {
						fails <- fmt.Errorf("st-%d batch %d never acknowledged: %d %v", c, b, st, err)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				r.progress <- struct{}{}
			}
		}(c)
	}
	go func() { wg.Wait(); close(r.sent) }()
	disturb()
	<-r.sent
	close(fails)
	for err := range fails {
		t.Error(err)
	}
}

// waitAcked waits until n more batches are acknowledged. It says false
// when every device stopped sending first (a device that gave up fails the
// test): the disturbance then has nothing left to disturb.
func (r *busRun) waitAcked(n int) bool {
	for i := 0; i < n; i++ {
		select {
		case <-r.progress:
		case <-r.sent:
			select {
			case <-r.progress:
			default:
				return false
			}
		}
	}
	return true
}

// slowest is the longest a batch took from its first attempt to its
// acknowledgement (a redelivered command waits AckWait).
func (r *busRun) slowest() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d time.Duration
	for _, b := range r.batches {
		d = max(d, b.acked.Sub(b.began))
	}
	return d
}

// storedExactlyOnce checks that the log holds every acknowledged
// measurement once, and nothing that was never sent.
func (r *busRun) storedExactlyOnce(want int) {
	t := r.t
	t.Helper()
	ctx := context.Background()
	rows, err := r.pool.Query(ctx, `SELECT device_id || '/' || measurement_id, count(*) FROM measurement_items GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		stored[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.acked) != want {
		t.Fatalf("%d measurements acknowledged, want %d", len(r.acked), want)
	}
	for id := range r.acked {
		if stored[id] != 1 {
			t.Errorf("measurement %s stored %d times, want once", id, stored[id])
		}
	}
	for id := range stored {
		if !r.acked[id] {
			t.Errorf("measurement %s stored but never sent", id)
		}
	}
}
