package faulttest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// newStandby makes a streaming hot standby of primary, which must be
// running: pg_basebackup copies it and, with -R, writes primary_conninfo
// and standby.signal, so the copy starts as a standby that replays the
// primary's WAL as it streams in. It is stopped and deleted when the test
// ends.
func newStandby(t *testing.T, primary *cluster) *cluster {
	t.Helper()
	s := newClusterDir(t)
	if out, err := s.run(filepath.Join(s.bin, "pg_basebackup"), "-D", s.data(), "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port),
		"-U", "postgres", "-X", "stream", "-c", "fast", "-R", "--no-sync"); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	return s
}

// checkpointReader reads the read-model projection's checkpoint on one
// server over a connection of its own.
type checkpointReader struct {
	conn *pgx.Conn
}

func newCheckpointReader(t *testing.T, url string) *checkpointReader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &checkpointReader{conn: conn}
}

// reached says whether the checkpoint is at or past p.
func (r *checkpointReader) reached(t *testing.T, p position) bool {
	t.Helper()
	var c position
	err := r.conn.QueryRow(context.Background(), `SELECT commit_pos, prepare_pos FROM projection_checkpoints WHERE name = $1`,
		projections.ReadModels).Scan(&c.tx, &c.pos)
	if err != nil && err != pgx.ErrNoRows {
		t.Fatalf("read the checkpoint: %v", err)
	}
	return c.tx > p.tx || c.tx == p.tx && c.pos >= p.pos
}

// waitReached polls until the checkpoint reaches p, returning when it saw
// it there.
func (r *checkpointReader) waitReached(t *testing.T, p position, within time.Duration, what string) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for !r.reached(t, p) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the checkpoint did not reach %v within %s", what, p, within)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return time.Now()
}

// metrics reads a process's /metrics into name -> value (unlabelled series).
func metrics(t *testing.T, client *http.Client, base string) map[string]float64 {
	t.Helper()
	// The read API asks for a key on /metrics too; the admin token is one.
	a := send(client, http.MethodGet, base+"/metrics", adminToken, nil)
	if a.status != http.StatusOK {
		t.Fatalf("GET /metrics: %v", a)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(a.raw)))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// latestPM25 reads the pm25 value of a GET /v1/stations/{id}/latest answer.
func latestPM25(a answer) (float64, bool) {
	if a.status != http.StatusOK {
		return 0, false
	}
	latest, _ := a.body["latest"].([]any)
	for _, l := range latest {
		if l, _ := l.(map[string]any); l["type"] == "pm25" {
			v, ok := l["value"].(float64)
			return v, ok
		}
	}
	return 0, false
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	i := int(float64(len(ds))*p/100+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func TestReadAPIOnAHotStandby_SeesWhatThePrimaryProjectsAndAnswersThroughAPrimaryRestart(t *testing.T) {
	primary := newCluster(t)
	primary.start(t)
	primary.createDatabase(t, "fleetpulse")
	primaryURL := primary.url("fleetpulse")

	// The command API and projector write to the primary (and migrate it).
	api := commandAPISpec(t, primaryURL, map[string]string{"FLEETPULSE_REQUEST_TIMEOUT": "3s"})
	apiProc := api.startReady(t)
	projSpec := projectorSpec(t, primaryURL, nil)
	proj := projSpec.startReady(t)

	standby := newStandby(t, primary)
	standby.start(t)
	standbyURL := standby.url("fleetpulse")
	// The read API reads the standby only; FLEETPULSE_PG_URL still names
	// the primary, as it would in a shared configuration.
	read := readAPISpec(t, primaryURL, map[string]string{"FLEETPULSE_READ_PG_URL": standbyURL, "FLEETPULSE_REQUEST_TIMEOUT": "3s"})
	reader := read.startReady(t)

	client := newClient(10 * time.Second)
	station := registerStation(t, client, api.url(), "st-1", "Europe/Warsaw")
	pool, err := pgxpool.New(context.Background(), primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	onPrimary, onStandby := newCheckpointReader(t, primaryURL), newCheckpointReader(t, standbyURL)

	// Probes: one measurement at a time; when the projector's commit is
	// seen on the primary, how long until the standby has replayed it.
	probes := 200
	if n, err := strconv.Atoi(os.Getenv("FLEETPULSE_STANDBY_PROBES")); err == nil && n > 0 {
		probes = n // more for docs/benchmarks.md
	}
	var replication, endToEnd []time.Duration
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	for i := 0; i < probes; i++ {
		m := measurement{ID: fmt.Sprintf("probe-%d", i), Type: "pm25", Value: float64(i), MeasuredAt: base.Add(time.Duration(i) * time.Second)}
		a := postMeasurements(client, api.url(), station, []measurement{m})
		acked := time.Now()
		if a.status != http.StatusCreated {
			t.Fatalf("probe %d: %v", i, a)
		}
		head := logHead(t, pool)
		projected := onPrimary.waitReached(t, head, 10*time.Second, "primary")
		replayed := onStandby.waitReached(t, head, 10*time.Second, "standby")
		replication = append(replication, replayed.Sub(projected))
		endToEnd = append(endToEnd, replayed.Sub(acked))
		if i%20 == 0 || i == probes-1 {
			// The read API answers from the standby what was just projected.
			got := send(client, http.MethodGet, read.url()+"/v1/stations/st-1/latest", adminToken, nil)
			if v, ok := latestPM25(got); !ok || v != float64(i) {
				t.Fatalf("probe %d: the read API on the standby answers %v, want pm25 = %d", i, got, i)
			}
		}
	}
	slices.Sort(replication)
	slices.Sort(endToEnd)
	t.Logf("STANDBY visibility over %d probes: projected on the primary -> replayed on the standby: median %v, p99 %v, max %v; acknowledged -> on the standby: median %v, p99 %v, max %v",
		probes, percentile(replication, 50), percentile(replication, 99), replication[len(replication)-1],
		percentile(endToEnd, 50), percentile(endToEnd, 99), endToEnd[len(endToEnd)-1])
	if p99 := percentile(replication, 99); p99 > 2*time.Second {
		t.Errorf("p99 replication visibility lag %v on loopback; want well under 2s", p99)
	}

	// The answers say how fresh they are: the checkpoint's time as
	// replayed on the standby (read at most once a second).
	time.Sleep(1100 * time.Millisecond)
	var committedAt time.Time
	if err := onStandby.conn.QueryRow(context.Background(), `SELECT updated_at FROM projection_checkpoints WHERE name = $1`,
		projections.ReadModels).Scan(&committedAt); err != nil {
		t.Fatal(err)
	}
	fresh := send(client, http.MethodGet, read.url()+"/v1/stations/st-1/latest", adminToken, nil)
	if want := committedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"); fresh.header.Get(readapi.DataAsOfHeader) != want {
		t.Errorf("%s = %q, want the standby's checkpoint time %s", readapi.DataAsOfHeader, fresh.header.Get(readapi.DataAsOfHeader), want)
	}
	asOfBefore := fresh.header.Get(readapi.DataAsOfHeader)

	// /metrics says the read API's database is a streaming standby and how
	// far behind it is.
	m := metrics(t, client, read.url())
	if m["fleetpulse_pg_in_recovery"] != 1 || m["fleetpulse_pg_wal_receiver_up"] != 1 {
		t.Errorf("read API metrics: in_recovery %v, wal_receiver_up %v; want 1 and 1 on a streaming standby",
			m["fleetpulse_pg_in_recovery"], m["fleetpulse_pg_wal_receiver_up"])
	}
	lagSeconds, hasLag := m["fleetpulse_pg_replication_lag_seconds"]
	lagBytes, hasBytes := m["fleetpulse_pg_replication_lag_bytes"]
	if !hasLag || !hasBytes || lagSeconds < 0 || lagBytes < 0 {
		t.Errorf("read API metrics: replication lag %v s (exported %v), %v bytes (exported %v)", lagSeconds, hasLag, lagBytes, hasBytes)
	}

	// The primary restarts: the read API keeps answering from the standby
	// all along, every answer a 200 with the data as of before the outage.
	var (
		mu       sync.Mutex
		answers  = map[int]int{}
		failures []string
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, path := range []string{"/v1/stations/st-1/latest", "/readyz"} {
				a := send(client, http.MethodGet, read.url()+path, adminToken, nil)
				mu.Lock()
				answers[a.status]++
				if a.status != http.StatusOK && len(failures) < 5 {
					failures = append(failures, fmt.Sprintf("GET %s: %v after %v", path, a, a.took.Round(time.Millisecond)))
				}
				mu.Unlock()
			}
		}
	}()
	primary.stop(t)
	down := time.Now()
	receiverDown := time.Duration(-1)
	for time.Since(down) < 10*time.Second {
		if metrics(t, client, read.url())["fleetpulse_pg_wal_receiver_up"] == 0 {
			receiverDown = time.Since(down)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if receiverDown < 0 {
		t.Errorf("fleetpulse_pg_wal_receiver_up stayed 1 for 10s with the primary down")
	}
	during := send(client, http.MethodGet, read.url()+"/v1/stations/st-1/latest", adminToken, nil)
	if during.status != http.StatusOK || during.header.Get(readapi.DataAsOfHeader) != asOfBefore {
		t.Errorf("read API with the primary down: %v, %s %q; want 200 with the data as of %s",
			during, readapi.DataAsOfHeader, during.header.Get(readapi.DataAsOfHeader), asOfBefore)
	}
	// Down for a few seconds: long enough for many answers from the
	// standby alone.
	time.Sleep(time.Until(down.Add(3 * time.Second)))
	primary.start(t)
	up := time.Now()
	apiProc.waitReady(t, api.url(), 30*time.Second)
	proj.waitReady(t, projSpec.url(), 30*time.Second)

	// Data written after the restart reaches the read API on the standby
	// once the standby streams again.
	after := measurement{ID: "after-restart", Type: "pm25", Value: 4242, MeasuredAt: base.Add(time.Duration(probes) * time.Second)}
	deadline := time.Now().Add(30 * time.Second)
	for a := postMeasurements(client, api.url(), station, []measurement{after}); a.status != http.StatusCreated; a = postMeasurements(client, api.url(), station, []measurement{after}) {
		if time.Now().After(deadline) {
			t.Fatalf("post after the primary's restart: %v", a)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var visibleAfter time.Duration
	for {
		a := send(client, http.MethodGet, read.url()+"/v1/stations/st-1/latest", adminToken, nil)
		if v, ok := latestPM25(a); ok && v == after.Value {
			visibleAfter = time.Since(up)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the measurement posted after the restart never reached the read API on the standby: %v", a)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if answers[http.StatusOK] == 0 || len(answers) != 1 {
		t.Errorf("read API through the primary's restart: answers by status %v; want only 200s: %v", answers, failures)
	}
	if !reader.running() {
		t.Errorf("read API exited: %v\n%s", reader.state, reader.logTail(10))
	}
	t.Logf("STANDBY primary restart: the read API gave %v (status: count) over %v; WAL receiver reported down %v after the stop; primary down for %v; a measurement posted after the restart visible through the read API %v after the primary was up",
		answers, time.Since(down).Round(time.Millisecond), receiverDown.Round(time.Millisecond), up.Sub(down).Round(time.Millisecond), visibleAfter.Round(time.Millisecond))
}
