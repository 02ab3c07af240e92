package faulttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// cluster is a private PostgreSQL cluster this package can stop and start,
// run as the postgres user (PostgreSQL refuses to run as root).
type cluster struct {
	bin    string // directory of initdb and pg_ctl
	dir    string // holds the data directory, the socket and the log
	port   int
	asUser []string // command prefix that runs a command as postgres
}

// newCluster initdbs a cluster in a fresh temporary directory; it is stopped
// and deleted when the test ends, even on failure. The test is skipped when
// PostgreSQL's server programs or a way to run them as postgres are missing.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := newClusterDir(t)
	if out, err := c.run(filepath.Join(c.bin, "initdb"), "-D", c.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	return c
}

// newClusterDir prepares a cluster with no data directory yet (newCluster
// initdbs one, newStandby copies its primary's) on a free port.
func newClusterDir(t *testing.T) *cluster {
	t.Helper()
	bin := postgresBinDir()
	if bin == "" {
		t.Skip("skipped: PostgreSQL's initdb is not installed (looked in /usr/lib/postgresql/*/bin and PATH)")
	}
	c := &cluster{bin: bin}
	var owner *user.User
	switch me, _ := user.Current(); {
	case os.Geteuid() == 0:
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Skip("skipped: running as root, PostgreSQL refuses root, and runuser is not installed to run it as postgres")
		}
		if owner, err = user.Lookup("postgres"); err != nil {
			t.Skip("skipped: running as root and there is no postgres user to run PostgreSQL as")
		}
		c.asUser = []string{runuser, "-u", "postgres", "--"}
	case me != nil && me.Username == "postgres":
		// Already the right user.
	default:
		t.Skip("skipped: a private PostgreSQL cluster needs root (to run it as postgres) or the postgres user")
	}
	removeStaleClusters(c)
	dir, err := os.MkdirTemp("", clusterDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		// Whatever state it is in: stop it, then delete it.
		if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
			if out, err := c.pgCtl("-m", "immediate", "stop"); err != nil {
				t.Errorf("stop the test cluster: %v\n%s", err, out)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("delete the test cluster: %v", err)
		}
	})
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("hand %s to postgres: %v", dir, err)
		}
	}
	addr := freeAddr(t)
	c.port, _ = strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	return c
}

const clusterDirPrefix = "fleetpulse-faulttest-pg-"

// removeStaleClusters stops and deletes clusters that a killed test run
// could not clean up: directories untouched for 15 minutes (a run of this
// package takes about one).
func removeStaleClusters(c *cluster) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), clusterDirPrefix+"*"))
	for _, d := range dirs {
		info, err := os.Stat(d)
		if err != nil || !info.IsDir() || time.Since(info.ModTime()) < 15*time.Minute {
			continue
		}
		stale := &cluster{bin: c.bin, dir: d, asUser: c.asUser}
		if _, err := os.Stat(filepath.Join(stale.data(), "postmaster.pid")); err == nil {
			_, _ = stale.pgCtl("-m", "immediate", "stop")
		}
		_ = os.RemoveAll(d)
	}
}

// postgresBinDir finds the newest /usr/lib/postgresql/<version>/bin, or
// the directory of an initdb on PATH.
func postgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi < vj
	})
	if len(dirs) > 0 {
		return filepath.Dir(dirs[len(dirs)-1])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real)
		}
	}
	return ""
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *cluster) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append(append(append([]string{}, c.asUser...), name), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cluster) pgCtl(args ...string) (string, error) {
	return c.run(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data(), "-w", "-t", "30"}, args...)...)
}

func (c *cluster) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.port, c.dir)
	if out, err := c.pgCtl("-o", opts, "-l", filepath.Join(c.dir, "log"), "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		t.Fatalf("start the test cluster: %v\n%s\n%s", err, out, log)
	}
}

func (c *cluster) stop(t *testing.T) {
	t.Helper()
	if out, err := c.pgCtl("-m", "fast", "stop"); err != nil {
		t.Fatalf("stop the test cluster: %v\n%s", err, out)
	}
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// createDatabase creates db on the cluster (the processes migrate it).
func (c *cluster) createDatabase(t *testing.T, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", db, err)
	}
}

func TestPostgreSQLRestart_WritesGet503AndEveryServiceRecoversByItself(t *testing.T) {
	rng := newRand(t)
	rng2 := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	pg := newCluster(t)
	pg.start(t)
	pg.createDatabase(t, "fleetpulse")

	const requestTimeout = 3 * time.Second
	api := commandAPISpec(t, pg.url("fleetpulse"), map[string]string{"FLEETPULSE_REQUEST_TIMEOUT": requestTimeout.String()})
	p := api.startReady(t)
	// The projector (with alerting, as shipped) and the read API ride out
	// the same outage.
	projSpec := projectorSpec(t, pg.url("fleetpulse"), nil)
	proj := projSpec.startReady(t)
	read := readAPISpec(t, pg.url("fleetpulse"), map[string]string{"FLEETPULSE_REQUEST_TIMEOUT": requestTimeout.String()})
	reader := read.startReady(t)
	client := newClient(3 * requestTimeout)
	station := registerStation(t, client, api.url(), "st-1", "Europe/Warsaw")
	l := newLedger()
	var batch int
	next := func() []measurement {
		batch++
		return measurements(rng, fmt.Sprintf("b%d", batch), 10)
	}

	// Up: a post is stored.
	ms := next()
	if a := postMeasurements(client, api.url(), station, ms); a.status != http.StatusCreated {
		t.Fatalf("post before the outage: %v", a)
	} else {
		l.ack(station.id, ms, a)
	}

	// Meanwhile a second device posts all along and, like a real one,
	// retries each batch with the same ids until it gets a 2xx.
	other := registerStation(t, client, api.url(), "st-2", "")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := 0; b < 500; b++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, ok := postUntilAcknowledged(t, client, api.url(), other, measurements(rng2, fmt.Sprintf("o%d", b), 10), l, 30*time.Second); !ok {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	stopOther := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopOther()

	// Down: every post is a prompt 503 with Retry-After, readiness fails,
	// liveness holds (a supervisor must not restart the process for this).
	pg.stop(t)
	outage := time.Now()
	var outageTook []time.Duration
	for i := 0; i < 4; i++ {
		ms := next()
		a := postMeasurements(client, api.url(), station, ms)
		outageTook = append(outageTook, a.took)
		switch {
		case a.ok():
			l.ack(station.id, ms, a)
			t.Errorf("post %d during the outage got %v; nothing can have been stored", i, a)
		case a.err != nil:
			t.Errorf("post %d during the outage got no answer (%v) after %s; want a 503", i, a.err, a.took.Round(time.Millisecond))
		case a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || a.errorCode() != "unavailable":
			t.Errorf("post %d during the outage: %v (Retry-After %q); want 503, code unavailable, with Retry-After",
				i, a, a.header.Get("Retry-After"))
		}
		if a.took > requestTimeout+time.Second {
			t.Errorf("post %d during the outage took %s; the request timeout is %s", i, a.took.Round(time.Millisecond), requestTimeout)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if a := send(client, http.MethodGet, api.url()+"/readyz", "", nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %v; want 503", a)
	}
	if a := send(client, http.MethodGet, api.url()+"/healthz", "", nil); a.status != http.StatusOK {
		t.Errorf("/healthz during the outage: %v; want 200 (the process itself is fine)", a)
	}
	if !p.running() {
		t.Fatalf("command-api exited during the outage: %v\n%s", p.state, p.logTail(10))
	}
	// The read side: a query is a prompt 503 (not a 500, not a hang), and
	// neither the read API nor the projector is ready, nor has either exited.
	if a := send(client, http.MethodGet, read.url()+"/v1/stations/st-1/latest", adminToken, nil); a.status != http.StatusServiceUnavailable || a.errorCode() != "unavailable" || a.took > requestTimeout+time.Second {
		t.Errorf("read API query during the outage: %v after %s; want a 503 unavailable within %s", a, a.took.Round(time.Millisecond), requestTimeout)
	}
	for _, svc := range []struct {
		name string
		url  string
		p    *process
	}{{"read-api", read.url(), reader}, {"projector", projSpec.url(), proj}} {
		if a := send(client, http.MethodGet, svc.url+"/readyz", "", nil); a.status != http.StatusServiceUnavailable {
			t.Errorf("%s /readyz during the outage: %v; want 503", svc.name, a)
		}
		if !svc.p.running() {
			t.Fatalf("%s exited during the outage: %v\n%s", svc.name, svc.p.state, svc.p.logTail(10))
		}
	}

	// Up again: readiness and posts recover in the same process.
	pg.start(t)
	up := time.Now()
	p.waitReady(t, api.url(), 20*time.Second)
	readyAfter := time.Since(up)
	var unavailableAfterReady int
	deadline := time.Now().Add(10 * time.Second)
	for recovered := 0; recovered < 5; {
		ms := next()
		a := postMeasurements(client, api.url(), station, ms)
		switch {
		case a.status == http.StatusCreated:
			l.ack(station.id, ms, a)
			recovered++
		case recovered == 0 && a.status == http.StatusServiceUnavailable && time.Now().Before(deadline):
			unavailableAfterReady++
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("post after recovery (%d recovered so far): %v", recovered, a)
		}
	}

	stopOther()

	// The log holds exactly the acknowledged measurements.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, pg.url("fleetpulse"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	logMatchesTheLedger(t, pool, l, true)

	// The read side recovered by itself too: the same projector process
	// caught up with everything acknowledged, and the read API serves it.
	reader.waitReady(t, read.url(), 20*time.Second)
	proj.waitReady(t, projSpec.url(), 20*time.Second)
	caughtUp := time.Now()
	waitCaughtUp(t, pool, proj, 30*time.Second)
	projectorCaughtUp := time.Since(caughtUp)
	readModelsMatchTheLog(t, pool)
	if a := send(client, http.MethodGet, read.url()+"/v1/stations/st-1/latest", adminToken, nil); a.status != http.StatusOK {
		t.Errorf("read API after the outage: %v", a)
	}
	if want := count(t, pool, `SELECT count(*) FROM measurement_items`); want != len(l.acked) {
		t.Errorf("%d measurements in the log, %d acknowledged", want, len(l.acked))
	}
	for _, pr := range []*process{p, proj, reader} {
		if !pr.running() {
			t.Errorf("%s is not running after the outage: %v\n%s", pr.name, pr.state, pr.logTail(10))
		}
	}
	t.Logf("after the outage the projector (not restarted) caught up in %s more", projectorCaughtUp.Round(time.Millisecond))
	t.Logf("outage answers took %v (request timeout %s); /readyz 200 %s after PostgreSQL was back (outage lasted %s); %d 503s after ready; the retrying device sent %d requests (%d retries, %d unanswered, %d 5xx, %d acknowledged as duplicates); %d measurements acknowledged and stored",
		roundAll(outageTook), requestTimeout, readyAfter.Round(time.Millisecond), up.Sub(outage).Round(time.Millisecond), unavailableAfterReady, l.posts, l.retries, l.transport, l.unavailable, l.ackedDupes, len(l.acked))
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
