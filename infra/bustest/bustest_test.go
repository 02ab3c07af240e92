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
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	p := &proc{name: name, out: &bytes.Buffer{}, addr: freeAddr(t), done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(append(os.Environ(), env...), addrVar+"="+p.addr)
	lw := &lockedWriter{w: p.out}
	p.cmd.Stdout, p.cmd.Stderr = lw, lw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited at start:\n%s", name, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", name, p.output())
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

func post(url, token, body string, out any) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
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
	api, worker := binaries(t)
	pool, dbURL := pgtest.NewDatabase(t)
	env := []string{
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
	}
	// Workers first: they create the bus's streams and tables.
	w1 := start(t, "worker-1", worker, "FLEETPULSE_WORKER_ADDR", env)
	w2 := start(t, "worker-2", worker, "FLEETPULSE_WORKER_ADDR", env)
	apis := []*proc{
		start(t, "api-1", api, "FLEETPULSE_COMMAND_ADDR", env),
		start(t, "api-2", api, "FLEETPULSE_COMMAND_ADDR", env),
	}

	const clients, batches, perBatch = 8, 30, 50
	tokens := make([]string, clients)
	for i := range tokens {
		var reg struct{ Token string }
		st, err := post("http://"+apis[i%2].addr+"/v1/stations", "admin",
			fmt.Sprintf(`{"id": "st-%d", "name": "station %d", "location": {"lat": 50, "lon": 19}}`, i, i), &reg)
		if err != nil || st != 201 {
			var diag []string
			rows, _ := pool.Query(context.Background(), `SELECT coalesce(datname,'') || ' ' || state || ' ' || coalesce(backend_xid::text,'-') || ' ' ||
				coalesce(backend_xmin::text,'-') || ' ' || (now()-xact_start)::text || ' ' || left(query, 120)
				FROM pg_stat_activity WHERE xact_start IS NOT NULL ORDER BY xact_start`)
			for rows != nil && rows.Next() {
				var l string
				_ = rows.Scan(&l)
				diag = append(diag, l)
			}
			var cur string
			_ = pool.QueryRow(context.Background(), `SELECT pg_current_snapshot()::text`).Scan(&cur)
			t.Fatalf("register st-%d: %d %v\nsnapshot %s\n%s\nworker-1:\n%s\nworker-2:\n%s\napi:\n%s", i, st, err,
				cur, strings.Join(diag, "\n"), w1.output(), w2.output(), apis[i%2].output())
		}
		tokens[i] = reg.Token
	}

	// Each client is a device sending batches with client ids to both APIs
	// in turn, retrying a batch (same ids) until it is acknowledged.
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		// retries and duplicates show the kill did hit commands in flight.
		retries, duplicates int
		slowest             time.Duration // a redelivered command waits AckWait
		sent                = make(chan int, clients*batches)
		wg                  sync.WaitGroup
		fails               = make(chan error, clients)
	)
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
				deadline := began.Add(30 * time.Second)
				for attempt := 0; ; attempt++ {
					var res struct{ Accepted, Duplicates int }
					st, err := post(fmt.Sprintf("http://%s/v1/stations/st-%d/measurements", apis[(b+attempt+c)%2].addr, c),
						tokens[c], body, &res)
					if err == nil && st == 201 {
						if res.Accepted+res.Duplicates != perBatch {
							fails <- fmt.Errorf("st-%d batch %d: %+v", c, b, res)
							return
						}
						mu.Lock()
						retries += attempt
						slowest = max(slowest, time.Since(began))
						duplicates += res.Duplicates
						for _, id := range ids {
							acked[fmt.Sprintf("st-%d/%s", c, id)] = true
						}
						mu.Unlock()
						break
					}
					if time.Now().After(deadline) {
						fails <- fmt.Errorf("st-%d batch %d never acknowledged: %d %v", c, b, st, err)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				sent <- 1
			}
		}(c)
	}

	// Kill a worker mid-stream, then start it again; then the other one,
	// so the kill surely hits the worker that is busy (on PostgreSQL one
	// worker per command type is active, the other stands by).
	for i, w := range []*proc{w1, w2} {
		for j := 0; j < clients*batches/4; j++ {
			<-sent
		}
		w.kill()
		time.Sleep(300 * time.Millisecond)
		start(t, fmt.Sprintf("worker-%d-again", i+1), worker, "FLEETPULSE_WORKER_ADDR", env)
	}
	wg.Wait()
	close(fails)
	t.Logf("%s: %d batches retried, %d measurements reported as duplicates, slowest batch %v",
		backend, retries, duplicates, slowest.Round(time.Millisecond))
	for err := range fails {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT device_id || '/' || measurement_id, count(*) FROM measurement_items GROUP BY 1`)
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
	if len(acked) != clients*batches*perBatch {
		t.Fatalf("%d measurements acknowledged, want %d", len(acked), clients*batches*perBatch)
	}
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("measurement %s stored %d times, want once", id, stored[id])
		}
	}
	for id := range stored {
		if !acked[id] {
			t.Errorf("measurement %s stored but never sent", id)
		}
	}
}
