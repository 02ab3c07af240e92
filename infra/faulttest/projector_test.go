package faulttest

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// registerFleet registers stations in several time zones (DST and
// half-hour offsets included) and two vehicles.
func registerFleet(t *testing.T, client *http.Client, base string) []device {
	t.Helper()
	var fleet []device
	for i, zone := range []string{"", "Europe/Warsaw", "America/New_York", "Asia/Kolkata"} {
		fleet = append(fleet, registerStation(t, client, base, fmt.Sprintf("st-%d", i), zone))
	}
	for i, zone := range []string{"Australia/Sydney", ""} {
		fleet = append(fleet, registerVehicle(t, client, base, fmt.Sprintf("veh-%d", i), zone))
	}
	return fleet
}

// ingest posts batches for d until stop closes (at most maxPosts of them),
// failing the test on any answer but 201 with everything accepted: the
// command API is not disturbed while it runs.
func ingest(t *testing.T, client *http.Client, base string, d device, rng *rand.Rand, stop <-chan struct{}, maxPosts, perPost int, pause time.Duration, posted *atomic.Int64) {
	for i := 0; i < maxPosts; i++ {
		select {
		case <-stop:
			return
		default:
		}
		prefix := fmt.Sprintf("%s-b%d", d.id, i)
		var a answer
		if d.kind == "stations" {
			a = postMeasurements(client, base, d, measurements(rng, prefix, perPost))
		} else {
			a = postVehicleEvents(client, base, d, vehicleEvents(rng, prefix, perPost))
		}
		if a.status != http.StatusCreated || a.number("accepted") != perPost {
			t.Errorf("ingest to %s: %v", d.id, a)
			return
		}
		posted.Add(int64(perPost))
		time.Sleep(pause)
	}
}

// runProjectorToHead starts a projector, waits until it has applied the
// whole log, and stops it with SIGTERM, which must exit 0.
func runProjectorToHead(t *testing.T, pool *pgxpool.Pool, spec *processSpec) time.Duration {
	t.Helper()
	start := time.Now()
	p := spec.startReady(t)
	waitCaughtUp(t, pool, p, 45*time.Second)
	took := time.Since(start)
	if code, _ := p.terminate(t, 10*time.Second); code != 0 {
		t.Fatalf("projector exit code after SIGTERM = %d, want 0; its log ends:\n%s", code, p.logTail(10))
	}
	return took
}

// sameAsAFreshProjection snapshots the read models, projects the whole log
// again from nothing with another batch size, and compares every table.
func sameAsAFreshProjection(t *testing.T, pool *pgxpool.Pool, pgURL, label string) {
	t.Helper()
	before := takeSnapshot(t, pool, label)
	resetReadModels(t, pool)
	took := runProjectorToHead(t, pool, projectorSpec(t, pgURL, map[string]string{"FLEETPULSE_PROJECTOR_BATCH": "1000"}))
	fresh := takeSnapshot(t, pool, "fresh")
	sameReadModels(t, pool, before, fresh)
	t.Logf("fresh projection of %d events took %s; all %d read-model tables equal (rows: %v)",
		count(t, pool, `SELECT count(*) FROM events`), took.Round(time.Millisecond), len(fresh.tables), fresh.rows)
}

func TestProjector_SIGKILLAtRandomPointsLeavesReadModelsEqualToAFreshProjection(t *testing.T) {
	rng := newRand(t)
	pool, pgURL := pgtest.NewDatabase(t)
	api := commandAPISpec(t, pgURL, nil)
	api.startReady(t)
	client := newClient(10 * time.Second)
	fleet := registerFleet(t, client, api.url())

	// Devices post all along, over HTTP, while the projector is killed.
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

	// Small batches, so a kill lands inside a projection transaction.
	projector := projectorSpec(t, pgURL, map[string]string{"FLEETPULSE_PROJECTOR_BATCH": "50"})
	// The projector can only read events of transactions older than every
	// running one on the whole server (pg_snapshot_xmin is cluster-wide), so
	// a long transaction in another database (another test package) can
	// stall it for a while: lifetimes go on, for up to 30 s more, while it
	// has advanced in none.
	const lifetimes = 15
	var behindAtKill, progressed, kills int
	loopStart := time.Now()
	for i := 0; i < lifetimes || (progressed == 0 && i < 100 && time.Since(loopStart) < 30*time.Second); i++ {
		kills++
		_, before := checkpoint(t, pool)
		p := projector.start(t)
		// A kill anywhere from start-up to well into projecting: on two
		// shared cores a projector takes 400 ms to 1 s from exec to its
		// first committed batch.
		time.Sleep(time.Duration(50+rng.IntN(951)) * time.Millisecond)
		p.kill(t)
		cp, after := appliedExactlyUpToTheCheckpoint(t, pool)
		if after > before {
			progressed++
		}
		if cp != logHead(t, pool) {
			behindAtKill++
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	stopIngest()
	if progressed == 0 {
		t.Fatalf("the projector applied nothing in %d lifetimes; the kills tested nothing", kills)
	}
	t.Logf("%d SIGKILLs; the projector advanced in %d lifetimes and had work left at %d kills; %d events ingested over HTTP meanwhile",
		kills, progressed, behindAtKill, posted.Load())

	took := runProjectorToHead(t, pool, projector)
	t.Logf("the restarted projector caught up in %s", took.Round(time.Millisecond))
	readModelsMatchTheLog(t, pool)
	dashboardTotalsMatchTheReadModels(t, pool, pgURL, client, fleet)
	sameAsAFreshProjection(t, pool, pgURL, "after_kills")
}

// dashboardTotalsMatchTheReadModels asks a read-api process for each
// station's daily pm25 rows and checks their counts add up to the raw rows.
func dashboardTotalsMatchTheReadModels(t *testing.T, pool *pgxpool.Pool, pgURL string, client *http.Client, fleet []device) {
	t.Helper()
	read := readAPISpec(t, pgURL, nil)
	p := read.startReady(t)
	defer p.kill(t)
	for _, d := range fleet {
		if d.kind != "stations" {
			continue
		}
		// Every local day the measurements can fall on, whatever the zone.
		from, to := time.Now().AddDate(0, 0, -30).Format(time.DateOnly), time.Now().AddDate(0, 0, 2).Format(time.DateOnly)
		a := send(client, http.MethodGet, read.url()+"/v1/stations/"+d.id+"/measurements/daily?type=pm25&from="+from+"&to="+to, adminToken, nil)
		if a.status != http.StatusOK {
			t.Fatalf("read API daily rows of %s: %v", d.id, a)
		}
		days, _ := a.body["days"].([]any)
		total := 0
		for _, day := range days {
			c, _ := day.(map[string]any)["count"].(float64)
			total += int(c)
		}
		if raw := count(t, pool, `SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks WHERE device_id = $1 AND type = 'pm25'`, d.id); total != raw {
			t.Errorf("read API: %s's daily pm25 counts add up to %d, raw rows %d", d.id, total, raw)
		}
	}
}

func TestProjector_SIGTERMWhileProjectingExitsZeroAndARestartEqualsAFreshProjection(t *testing.T) {
	rng := newRand(t)
	pool, pgURL := pgtest.NewDatabase(t)
	api := commandAPISpec(t, pgURL, nil)
	p := api.startReady(t)
	client := newClient(10 * time.Second)
	fleet := registerFleet(t, client, api.url())
	// Telemetry is one event per post: many small posts make a log of
	// hundreds of events.
	const posts, perPost = 60, 50
	for i := 0; i < posts; i++ {
		for _, d := range fleet {
			prefix := fmt.Sprintf("%s-b%d", d.id, i)
			var a answer
			if d.kind == "stations" {
				a = postMeasurements(client, api.url(), d, measurements(rng, prefix, perPost))
			} else {
				a = postVehicleEvents(client, api.url(), d, vehicleEvents(rng, prefix, perPost))
			}
			if a.status != http.StatusCreated {
				t.Fatalf("post to %s: %v", d.id, a)
			}
		}
	}
	p.kill(t)

	// Batches of 20: the log takes hundreds of transactions to project, so
	// the SIGTERM lands while the projector is busy.
	projector := projectorSpec(t, pgURL, map[string]string{"FLEETPULSE_PROJECTOR_BATCH": "20", "FLEETPULSE_SHUTDOWN_TIMEOUT": "5s"})
	proj := projector.start(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, applied := checkpoint(t, pool); applied >= 200 {
			break
		}
		if time.Now().After(deadline) || !proj.running() {
			t.Fatalf("the projector did not start projecting; its log ends:\n%s", proj.logTail(10))
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, took := proj.terminate(t, 5*time.Second+2*time.Second)
	if code != 0 {
		t.Fatalf("projector exit code after SIGTERM = %d (-1: still running), want 0; its log ends:\n%s", code, proj.logTail(10))
	}
	cp, applied := appliedExactlyUpToTheCheckpoint(t, pool)
	head := logHead(t, pool)
	if cp == head {
		t.Fatalf("the projector had finished the log before SIGTERM; the test did not stop it mid-work")
	}
	t.Logf("SIGTERM while projecting: exit 0 after %s, at %d of %d events", took.Round(time.Millisecond), applied,
		count(t, pool, `SELECT count(*) FROM events`))

	restarted := runProjectorToHead(t, pool, projector)
	t.Logf("the restarted projector caught up in %s", restarted.Round(time.Millisecond))
	readModelsMatchTheLog(t, pool)
	sameAsAFreshProjection(t, pool, pgURL, "after_sigterm")
}
