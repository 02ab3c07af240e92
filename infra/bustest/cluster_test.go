package bustest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// natsCluster is a JetStream cluster of nats-server processes on loopback,
// each with its store in the test's temporary directory.
type natsCluster struct {
	nodes []*natsNode
}

type natsNode struct {
	name string
	url  string // client URL
	proc *proc  // its monitoring address answers /healthz
}

// natsServerBinary finds Debian's nats-server (scripts/ensure-brokers.sh
// installs it), or skips the test.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	t.Skip("nats-server is not installed (scripts/ensure-brokers.sh installs it): skipping the NATS cluster test")
	return ""
}

// startNATSCluster starts n nodes routed to each other and waits until
// every one is healthy (JetStream included: a node is healthy once the
// cluster has elected its meta leader).
func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	bin := natsServerBinary(t)
	dir := t.TempDir()
	type ports struct{ client, route, monitor string }
	ps := make([]ports, n)
	routes := make([]string, n)
	for i := range ps {
		ps[i] = ports{freeAddr(t), freeAddr(t), freeAddr(t)}
		routes[i] = "nats-route://" + ps[i].route
	}
	c := &natsCluster{}
	for i, p := range ps {
		name := fmt.Sprintf("n%d", i+1)
		conf := filepath.Join(dir, name+".conf")
		err := os.WriteFile(conf, []byte(fmt.Sprintf(`server_name: %s
listen: %s
http: %s
jetstream { store_dir: %q }
cluster { name: fleetpulse_test, listen: %s, routes: [%s] }
`, name, p.client, p.monitor, filepath.Join(dir, name), p.route, strings.Join(routes, ", "))), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		// All nodes start before any is waited for: none is healthy
		// until a majority is up to elect a meta leader.
		c.nodes = append(c.nodes, &natsNode{name: name, url: "nats://" + p.client,
			proc: launch(t, "nats-"+name, exec.Command(bin, "-c", conf), p.monitor)})
	}
	for _, node := range c.nodes {
		node.proc.waitHealthy(t, 30*time.Second)
	}
	return c
}

// urls is every node's client URL, as FLEETPULSE_NATS_URL takes them.
func (c *natsCluster) urls() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.url
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) node(name string) *natsNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// connect opens a client connection to the cluster for the test itself.
func (c *natsCluster) connect(t *testing.T) nats.JetStreamContext {
	t.Helper()
	conn, err := nats.Connect(c.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to the NATS cluster: %v", err)
	}
	t.Cleanup(conn.Close)
	js, err := conn.JetStream(nats.MaxWait(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamInfo reads a stream's state, retrying while the cluster elects
// leaders.
func streamInfo(t *testing.T, js nats.JetStreamContext, stream string) *nats.StreamInfo {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := js.StreamInfo(stream)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s has no leader: %v", stream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCommandBus_NATSCluster_KilledNodeAndWorkerLoseAndDuplicateNothing runs
// the command bus on a three-node JetStream cluster with streams kept in
// three copies: two command APIs and two workers, each given every node's
// URL; devices send batches with client ids through both APIs. Mid-stream
// the node leading the measurements stream is SIGKILLed, and later one
// worker; neither comes back. Every acknowledged measurement must be in the
// log exactly once, and the commands must go on flowing on the two nodes
// and the one worker left.
func TestCommandBus_NATSCluster_KilledNodeAndWorkerLoseAndDuplicateNothing(t *testing.T) {
	t.Parallel()
	binaries(t) // built before the cluster starts, which then has no time to idle
	cluster := startNATSCluster(t, 3)
	prefix := "t" + randomHex(4)
	r := startBusRun(t, "nats", prefix, cluster.urls(), "FLEETPULSE_BUS_REPLICAS=3")
	js := cluster.connect(t)
	stream := prefix + "_commands_RecordMeasurements"

	clients, batches := 8, 60
	if n, err := strconv.Atoi(os.Getenv("FLEETPULSE_NATS_CLUSTER_BATCHES")); err == nil && n > 0 {
		batches = n // a longer run for docs/benchmarks.md
	}
	const perBatch = 50
	var (
		leader               string
		nodeKilled, wkKilled time.Time
	)
	r.send(clients, batches, perBatch, func() {
		if !r.waitAcked(clients * batches / 3) {
			return
		}
		info := streamInfo(t, js, stream)
		if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: %d replicas configured, leader %s and %d other copies; want 3 copies",
				stream, info.Config.Replicas, info.Cluster.Leader, len(info.Cluster.Replicas))
		}
		leader = info.Cluster.Leader
		cluster.node(leader).proc.kill()
		nodeKilled = time.Now()

		if !r.waitAcked(clients * batches / 3) {
			return
		}
		r.workers[0].kill()
		wkKilled = time.Now()
	})
	if t.Failed() {
		return
	}
	r.storedExactlyOnce(clients * batches * perBatch)

	// The stream lives on, in the two copies left, under a new leader.
	info := streamInfo(t, js, stream)
	if info.Cluster.Leader == leader {
		t.Errorf("stream %s is still led by the killed node %s", stream, leader)
	}
	var current int
	for _, p := range info.Cluster.Replicas {
		if p.Current && !p.Offline {
			current++
		}
	}
	if current != 1 {
		t.Errorf("stream %s: want the leader and one current copy left, got %+v", stream, info.Cluster.Replicas)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	node := disturbance(r.batches, r.refused, time.Time{}, nodeKilled, wkKilled, perBatch)
	worker := disturbance(r.batches, r.refused, node.recovered, wkKilled, time.Time{}, perBatch)
	if worker.after == 0 {
		t.Errorf("no batch was acknowledged once the worker's commands were redelivered")
	}
	t.Logf("NATS CLUSTER: %d batches of %d from %d devices; %d retried requests (answers: %v), %d measurements reported as duplicates",
		len(r.batches), perBatch, clients, r.retries, r.refusals, r.duplicates)
	t.Logf("NATS CLUSTER node %s (stream leader) killed: %s", leader, node)
	t.Logf("NATS CLUSTER worker-1 killed: %s", worker)
}

// failover sums up what a kill did to the traffic around it.
type failover struct {
	inFlight        int           // batches sent before the kill, acknowledged after it
	inFlightRetried int           // of them, how many needed another request
	refused         int           // requests refused (retried) after the kill
	longestGap      time.Duration // longest time without any acknowledgement after the kill
	recovery        time.Duration // from the kill until every batch in flight was through and no request was refused any more
	recovered       time.Time     // the kill + recovery

	before, during, after float64 // measurements/s acknowledged before the kill, during the recovery, after it
}

func (f failover) String() string {
	return fmt.Sprintf("%d batches in flight (%d of them retried), %d requests refused after the kill; recovered in %v (longest time without an acknowledgement %v); %.0f measurements/s before, %.0f during the recovery, %.0f after",
		f.inFlight, f.inFlightRetried, f.refused, f.recovery.Round(time.Millisecond), f.longestGap.Round(time.Millisecond), f.before, f.during, f.after)
}

// disturbance measures a kill at killed, up to until (the next kill, or the
// last acknowledgement): the batches in flight, the refused requests, how
// long until both were over, and the throughput before it (from from, or
// the first acknowledgement), during the recovery and after it.
func disturbance(bs []batch, refused []time.Time, from, killed, until time.Time, perBatch int) failover {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, func(a, b batch) int { return a.acked.Compare(b.acked) })
	if from.IsZero() {
		from = bs[0].acked
	}
	if until.IsZero() {
		until = bs[len(bs)-1].acked
	}
	var f failover
	f.recovered = killed
	for _, at := range refused {
		if at.After(killed) && at.Before(until) {
			f.refused++
			f.recovered = later(f.recovered, at)
		}
	}
	last := killed
	var nBefore, nDuring, nAfter int
	for _, b := range bs {
		if b.began.Before(killed) && b.acked.After(killed) {
			f.inFlight++
			if b.attempts > 1 {
				f.inFlightRetried++
			}
			f.recovered = later(f.recovered, b.acked)
		}
		if b.acked.After(killed) && !b.acked.After(until) {
			f.longestGap = max(f.longestGap, b.acked.Sub(last))
			last = b.acked
		}
	}
	f.recovery = f.recovered.Sub(killed)
	for _, b := range bs {
		switch {
		case b.acked.Before(from) || b.acked.After(until):
		case b.acked.Before(killed):
			nBefore++
		case !b.acked.After(f.recovered):
			nDuring++
		default:
			nAfter++
		}
	}
	rate := func(n int, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n*perBatch) / d.Seconds()
	}
	f.before, f.during, f.after = rate(nBefore, killed.Sub(from)), rate(nDuring, f.recovery), rate(nAfter, until.Sub(f.recovered))
	return f
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
