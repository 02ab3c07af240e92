package faulttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/projections"
)

// shareCheckpoint is where share i of n stands and the events it applied.
func shareCheckpoint(t *testing.T, pool *pgxpool.Pool, share projections.Share) (position, int64) {
	t.Helper()
	var (
		c      position
		events int64
	)
	err := pool.QueryRow(context.Background(), `
SELECT coalesce(max(commit_pos), 0), coalesce(max(prepare_pos), 0), coalesce(max(events), 0)
FROM projection_checkpoints WHERE name = $1`, share.CheckpointName(projections.ReadModels)).Scan(&c.tx, &c.pos, &events)
	if err != nil {
		t.Fatalf("read the checkpoint of %s: %v", share, err)
	}
	return c, events
}

// shareAppliedExactlyUpToItsCheckpoint checks, with share's projector
// dead and the others running, that the read models hold every event of
// the share's devices up to its checkpoint once and nothing beyond it. The
// other shares write only their own devices' rows meanwhile; one statement
// reads everything in one snapshot.
func shareAppliedExactlyUpToItsCheckpoint(t *testing.T, pool *pgxpool.Pool, share projections.Share, devices []string) position {
	t.Helper()
	var (
		cp                         position
		applied, inLog, logM, logV int64
		rawM, dailyM, rawV         int64
	)
	var streams []string
	for _, d := range devices {
		streams = append(streams, "device-"+d, "telemetry-"+d, "alerts-"+d)
	}
	err := pool.QueryRow(context.Background(), `
WITH cp AS (
    SELECT coalesce(max(commit_pos), 0) AS c, coalesce(max(prepare_pos), 0) AS p, coalesce(max(events), 0) AS n
    FROM projection_checkpoints WHERE name = $1
), upto AS (
    SELECT (SELECT count(*) FROM events, cp WHERE (tx_id, position) <= (cp.c, cp.p)
              AND (stream_id = ANY($3) OR ($4 AND stream_id !~ '^(device|telemetry|alerts)-.'))) AS n,
           (SELECT count(*) FROM measurement_items, cp WHERE (tx_id, position) <= (cp.c, cp.p) AND device_id = ANY($2)) AS m,
           (SELECT count(*) FROM vehicle_event_items, cp WHERE (tx_id, position) <= (cp.c, cp.p) AND device_id = ANY($2)) AS v
)
SELECT cp.c, cp.p, cp.n, upto.n, upto.m, upto.v,
       (SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks WHERE device_id = ANY($2)),
       (SELECT coalesce(sum(count), 0) FROM rm_daily WHERE device_id = ANY($2) AND device_id IN (SELECT device_id FROM rm_devices WHERE kind = 'station')),
       (SELECT coalesce(sum(events), 0) FROM rm_vehicle_event_chunks WHERE device_id = ANY($2))
FROM cp, upto`, share.CheckpointName(projections.ReadModels), devices, streams, share.Index == 0).
		Scan(&cp.tx, &cp.pos, &applied, &inLog, &logM, &logV, &rawM, &dailyM, &rawV)
	if err != nil {
		t.Fatalf("compare %s's read models with the log up to its checkpoint: %v", share, err)
	}
	for _, c := range []struct {
		what           string
		inModel, inLog int64
	}{
		{"events counted by the checkpoint", applied, inLog},
		{"raw measurements", rawM, logM},
		{"measurements in daily aggregates", dailyM, logM},
		{"raw vehicle events", rawV, logV},
	} {
		if c.inModel != c.inLog {
			t.Errorf("%s at checkpoint %v: %s = %d, but the log holds %d of its devices up to the checkpoint", share, cp, c.what, c.inModel, c.inLog)
		}
	}
	return cp
}

func TestProjectorShares_FourProjectorsSIGKILLedAtRandomDuringIngestEqualAFreshSingleProjection(t *testing.T) {
	const n = 4
	rng := newRand(t)
	pool, pgURL := pgtest.NewDatabase(t)
	api := commandAPISpec(t, pgURL, nil)
	api.startReady(t)
	client := newClient(10 * time.Second)
	fleet := registerFleet(t, client, api.url())
	devices := make([][]string, n)
	for _, d := range fleet {
		i := projections.ShareOf(d.id, n)
		devices[i] = append(devices[i], d.id)
	}
	for i, ds := range devices {
		if len(ds) == 0 {
			t.Fatalf("share %d owns none of the fleet's devices (%v): the test would not test it", i, devices)
		}
	}

	stop := make(chan struct{})
	var (
		wg     sync.WaitGroup
		posted atomic.Int64
	)
	for _, d := range fleet {
		wg.Add(1)
		go func(d device, rng *rand.Rand) {
			defer wg.Done()
			ingest(t, client, api.url(), d, rng, stop, 2000, 25, 10*time.Millisecond, &posted)
		}(d, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
	}
	stopIngest := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopIngest()

	// Four processes, one per share, small batches so a kill lands inside
	// a transaction; one of them SIGKILLed at a random moment, checked and
	// restarted, over and over, for 5 s (longer, up to 25 s, until every
	// share has advanced in some lifetime), while the others go on.
	specs := make([]*processSpec, n)
	procs := make([]*process, n)
	startedAt := make([]position, n) // each lifetime's checkpoint at its start
	for i := range specs {
		specs[i] = projectorSpec(t, pgURL, map[string]string{
			"FLEETPULSE_PROJECTOR_BATCH": "50", "FLEETPULSE_PROJECTOR_SHARES": fmt.Sprint(n), "FLEETPULSE_PROJECTOR_SHARE": fmt.Sprint(i),
		})
		startedAt[i], _ = shareCheckpoint(t, pool, projections.Share{Index: i, Count: n})
		procs[i] = specs[i].start(t)
	}
	progressed := make([]int, n)
	kills := 0
	loopStart := time.Now()
	for time.Since(loopStart) < 5*time.Second || (time.Since(loopStart) < 25*time.Second && minInt(progressed) == 0) {
		i := rng.IntN(n)
		// A lifetime of 100 ms to 1.3 s: from start-up (a projector takes
		// 400 ms to 1 s from exec to its first batch on two shared cores)
		// to well into projecting.
		lifetime := time.Duration(100+rng.IntN(1200)) * time.Millisecond
		time.Sleep(max(0, lifetime-time.Since(procs[i].started)))
		share := projections.Share{Index: i, Count: n}
		procs[i].kill(t)
		kills++
		if after := shareAppliedExactlyUpToItsCheckpoint(t, pool, share, devices[i]); after != startedAt[i] {
			progressed[i]++
		}
		if t.Failed() {
			t.FailNow()
		}
		startedAt[i], _ = shareCheckpoint(t, pool, share)
		procs[i] = specs[i].start(t)
	}
	stopIngest()
	for i, p := range progressed {
		if p == 0 {
			t.Fatalf("share %d advanced in none of its lifetimes (%d kills in all); the kills tested nothing for it", i, kills)
		}
	}
	t.Logf("%d SIGKILLs over %s; lifetimes that advanced, by share: %v; %d items ingested over HTTP meanwhile",
		kills, time.Since(loopStart).Round(time.Millisecond), progressed, posted.Load())

	// Every share catches up with the log's head and stops cleanly.
	start := time.Now()
	deadline := start.Add(45 * time.Second)
	for i := 0; i < n; {
		head := logHead(t, pool)
		if cp, _ := shareCheckpoint(t, pool, projections.Share{Index: i, Count: n}); cp == head {
			i++
			continue
		}
		if !procs[i].running() {
			t.Fatalf("share %d's projector exited with %v; its log ends:\n%s", i, procs[i].state, procs[i].logTail(10))
		}
		if time.Now().After(deadline) {
			t.Fatalf("share %d did not catch up within 45s", i)
		}
		time.Sleep(25 * time.Millisecond)
	}
	for i, p := range procs {
		if code, _ := p.terminate(t, 10*time.Second); code != 0 {
			t.Fatalf("share %d's projector exit code after SIGTERM = %d, want 0; its log ends:\n%s", i, code, p.logTail(10))
		}
	}
	t.Logf("the four shares caught up in %s", time.Since(start).Round(time.Millisecond))
	readModelsMatchTheLog(t, pool)

	// A projector started with another share count refuses, and says how
	// to change it.
	wrong := projectorSpec(t, pgURL, map[string]string{"FLEETPULSE_PROJECTOR_SHARES": "2"}).start(t)
	select {
	case <-wrong.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("a projector of 2 shares on a projection of 4 still runs after 20s")
	}
	if code := wrong.state.ExitCode(); code == 0 || !strings.Contains(wrong.logTail(5), "rebuild -shares 2") {
		t.Errorf("a projector of 2 shares on a projection of 4 exited %d; its log ends:\n%s", code, wrong.logTail(5))
	}

	// A single projector from nothing (the reset lets it claim one share)
	// projects exactly what the four shares did.
	sameAsAFreshProjection(t, pool, pgURL, "after_share_kills")
}

func minInt(xs []int) int {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}
