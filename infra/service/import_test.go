package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/bus"
	"github.com/fleetpulse/fleetpulse/infra/importer"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/importjobs"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

// history is a station's history as an import file and as a device would
// have posted it: 2,000 measurements of two types, 200 of them measured
// 200 days ago (past the raw retention of 90 days), half without an id,
// one sent twice with its id, and bad rows.
type history struct {
	csv       string
	live      []domain.Measurement // in file order, the bad rows left out
	rows      int64                // data rows of the file
	stored    int64                // measurements stored once each
	badLines  map[int64]string     // line -> a part of the rejection's reason
	firstLine int64
}

func makeHistory(now time.Time) history {
	h := history{badLines: map[int64]string{}}
	var b strings.Builder
	b.WriteString("station,id,type,value,measured_at\n")
	line := int64(1)
	add := func(id, typ, value, at string) {
		line++
		h.rows++
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", "{station}", id, typ, value, at)
	}
	old := now.Add(-200 * 24 * time.Hour).Truncate(time.Hour)
	recent := now.Add(-72 * time.Hour).Truncate(time.Hour)
	for i := range 1000 {
		base := recent
		if i < 100 {
			base = old
		}
		at := base.Add(time.Duration(i) * 4 * time.Minute)
		for _, typ := range []string{"pm25", "temp"} {
			id := ""
			if i%2 == 0 {
				id = fmt.Sprintf("%s-%d", typ, i)
			}
			v := float64(i%37) + 0.25
			if typ == "temp" {
				v = -float64(i % 11)
			}
			add(id, typ, fmt.Sprint(v), at.Format(time.RFC3339))
			h.live = append(h.live, domain.Measurement{ID: id, Type: typ, Value: v, MeasuredAt: at})
			h.stored++
		}
		switch i {
		case 10: // sent again with its id: a duplicate
			add("pm25-10", "pm25", "99", at.Format(time.RFC3339))
			h.live = append(h.live, domain.Measurement{ID: "pm25-10", Type: "pm25", Value: 99, MeasuredAt: at})
		case 300:
			add("", "PM 2.5", "1", at.Format(time.RFC3339))
			h.badLines[line] = "type"
		case 600:
			add("", "pm25", "high", at.Format(time.RFC3339))
			h.badLines[line] = "value"
		case 900:
			add("", "pm25", "1", now.Add(24*time.Hour).Format(time.RFC3339))
			h.badLines[line] = "future"
		}
	}
	h.csv = b.String()
	return h
}

func (h history) file(station string) string { return strings.ReplaceAll(h.csv, "{station}", station) }

// importEnv is the command side and the read models on a throwaway
// database, without servers: what an import job runs against.
type importEnv struct {
	pool  *pgxpool.Pool
	store *eventstore.Store
	bus   *bus.CommandBus
	app   commands.Application
}

func newImportEnv(t testing.TB) importEnv {
	t.Helper()
	pool, _ := pgtest.NewDatabase(t)
	store := eventstore.New(pool, eventstore.Config{PollInterval: 50 * time.Millisecond})
	t.Cleanup(store.Close)
	app := commands.NewApplication(store, time.Now, domain.DefaultTelemetryPolicy)
	b, err := bus.NewInProcess(app, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return importEnv{pool: pool, store: store, bus: b, app: app}
}

func (e importEnv) register(t testing.TB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := e.bus.Dispatch(context.Background(), &commands.RegisterStation{Caller: commands.Caller{Admin: true}, ID: id,
			Profile: domain.StationProfile{Name: id, Location: domain.Location{Lat: 1, Lon: 2}}, TokenHash: []byte("0123456789abcdef0123456789abcdef")}); err != nil {
			t.Fatal(err)
		}
	}
}

// project brings the read models up to the head of the log.
func (e importEnv) project(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	w, err := readmodel.NewWriter(e.pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	head, err := e.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := projections.NewProjector(e.store, e.store, w, slog.New(slog.NewTextHandler(io.Discard, nil)), projections.Config{})
	if _, err := p.CatchUp(ctx, head); err != nil {
		t.Fatal(err)
	}
}

// aggregates are a station's daily and hourly rows, without its id.
func (e importEnv) aggregates(t *testing.T, station string) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `
SELECT 'daily ' || name || ' ' || day::text || ' ' || count || ' ' || round(sum::numeric, 6) || ' ' || min || ' ' || max
FROM rm_daily WHERE device_id = $1
UNION ALL
SELECT 'hourly ' || name || ' ' || hour::text || ' ' || count || ' ' || round(sum::numeric, 6) || ' ' || min || ' ' || max
FROM rm_hourly WHERE device_id = $1 ORDER BY 1`, station)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e importEnv) dailyCount(t *testing.T, station string) int64 {
	t.Helper()
	var n int64
	if err := e.pool.QueryRow(context.Background(), `SELECT coalesce(sum(count), 0) FROM rm_daily WHERE device_id = $1`, station).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// crashingQueue is a job queue whose runner dies at its third commit, after
// the batch was stored and before its progress was: the crash a SIGKILL
// between the two makes. The dead runner commits nothing more and gives
// nothing back.
type crashingQueue struct {
	importer.JobQueue
	commits atomic.Int32
	kill    context.CancelFunc
}

func (q *crashingQueue) Commit(ctx context.Context, id, owner string, p importer.Progress, lease time.Duration) error {
	if q.commits.Add(1) == 3 {
		q.kill()
		return context.Canceled
	}
	return q.JobQueue.Commit(ctx, id, owner, p, lease)
}

func (q *crashingQueue) Release(context.Context, string, string) error { return nil }

func (q *crashingQueue) Finish(context.Context, string, string, importer.Progress, string, string) error {
	return nil
}

func TestImport_JobKilledMidwayAndResumedStoresEveryRowOnceWithTheDailiesOfLiveData(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	e.register(t, "imported", "live")
	h := makeHistory(time.Now().UTC())
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The same data posted live, in a device's batches of 250.
	for batch := range slices.Chunk(h.live, 250) {
		if _, err := e.bus.Dispatch(ctx, &commands.RecordMeasurements{Caller: commands.Caller{Admin: true}, StationID: "live",
			Measurements: slices.Clone(batch)}); err != nil {
			t.Fatal(err)
		}
	}

	jobs := importjobs.New(e.pool)
	job, err := jobs.Create(ctx, importer.CSV, strings.NewReader(h.file("imported")))
	if err != nil {
		t.Fatal(err)
	}
	im := importer.New(e.bus, importer.Config{BatchSize: 400, Policy: domain.DefaultTelemetryPolicy})

	// The first runner dies after two committed batches and a third stored.
	killCtx, kill := context.WithCancel(ctx)
	crashing := &crashingQueue{JobQueue: jobs, kill: kill}
	first := importer.NewRunner(im, crashing, importer.RunnerConfig{Lease: 300 * time.Millisecond, Poll: 10 * time.Millisecond}, logger)
	if err := first.Run(killCtx); err != nil {
		t.Fatal(err)
	}
	dead, err := jobs.Get(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dead.State != importer.StateRunning || dead.NextLine == 0 || dead.Rows >= h.rows {
		t.Fatalf("after the crash the job is %s at line %d with %d rows, want running part-way", dead.State, dead.NextLine, dead.Rows)
	}
	if stored := e.projectAndCount(t, "imported"); stored <= dead.Accepted {
		t.Fatalf("the dead runner stored %d rows, want more than the %d it committed (its last batch)", stored, dead.Accepted)
	}

	// A second runner takes the job over once the dead one's lease ran out.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	second := importer.NewRunner(im, jobs, importer.RunnerConfig{Lease: time.Minute, Poll: 20 * time.Millisecond}, logger)
	done := make(chan error, 1)
	go func() { done <- second.Run(runCtx) }()
	deadline := time.Now().Add(20 * time.Second)
	for job.State != importer.StateDone {
		if time.Now().After(deadline) {
			t.Fatalf("the job is %s (%s) at line %d, want done", job.State, job.Failure, job.NextLine)
		}
		time.Sleep(20 * time.Millisecond)
		if job, err = jobs.Get(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	t.Logf("job after resume: %d rows, %d accepted, %d duplicates, %d rejected, %d attempts; the dead runner committed %d rows", job.Rows, job.Accepted, job.Duplicates, job.Rejected, job.Attempts, dead.Rows)
	if job.Attempts != 2 || job.Rows != h.rows || job.Rejected != int64(len(h.badLines)) {
		t.Errorf("job: %d attempts, %d rows, %d rejected; want 2, %d, %d", job.Attempts, job.Rows, job.Rejected, h.rows, len(h.badLines))
	}
	// The batch replayed after the crash was stored once: its rows are
	// duplicates the second time, on top of the one sent twice.
	if job.Accepted+job.Duplicates+job.Rejected != job.Rows || job.Accepted >= h.stored || job.Duplicates <= 1 {
		t.Errorf("job: %d accepted, %d duplicates of %d rows; want accepted + duplicates + rejected = rows, the replayed batch in duplicates", job.Accepted, job.Duplicates, job.Rows)
	}
	for _, r := range job.Rejections {
		if !strings.Contains(r.Reason, h.badLines[r.Line]) || h.badLines[r.Line] == "" {
			t.Errorf("line %d rejected with %q, want the bad lines %v", r.Line, r.Reason, h.badLines)
		}
	}
	if stored := e.projectAndCount(t, "imported"); stored != h.stored {
		t.Errorf("%d measurements stored, want each of the %d once", stored, h.stored)
	}
	imported, live := e.aggregates(t, "imported"), e.aggregates(t, "live")
	if len(live) == 0 || !slices.Equal(imported, live) {
		t.Errorf("imported aggregates differ from live ones:\nimported %d rows %v\nlive %d rows %v", len(imported), first5(imported), len(live), first5(live))
	}
	if n, err := countChunks(ctx, e.pool, job.ID); err != nil || n != 0 {
		t.Errorf("%d chunks of the upload left after the job (%v), want none", n, err)
	}
}

func (e importEnv) projectAndCount(t *testing.T, station string) int64 {
	t.Helper()
	e.project(t)
	return e.dailyCount(t, station)
}

func first5(s []string) []string { return s[:min(5, len(s))] }

func countChunks(ctx context.Context, pool *pgxpool.Pool, id string) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM import_job_chunks WHERE job_id = $1`, id).Scan(&n)
	return n, err
}

// TestSystem_ImportUploadIsAJobWhoseRowsReachTheReadModels uploads NDJSON
// to the command API of a running system: a 202 job, done in the
// background with its bad rows named by line, its rows in the read API.
func TestSystem_ImportUploadIsAJobWhoseRowsReachTheReadModels(t *testing.T) {
	s := startSystem(t)
	if st := call(t, "POST", s.command+"/v1/stations", "admin", `{"id": "krk-1", "name": "Kraków", "location": {"lat": 50.06, "lon": 19.94}}`, nil); st != 201 {
		t.Fatalf("register: %d", st)
	}
	start := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, `{"station": "krk-1", "type": "pm25", "value": %d, "measured_at": %q}`+"\n", i%40, start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
		switch i {
		case 0:
			b.WriteString(`{"station": "krk-1", "type": "pm25", "value": "high", "measured_at": "2026-01-01T00:00:00Z"}` + "\n")
		case 1:
			b.WriteString(`{"station": "nope", "type": "pm25", "value": 1, "measured_at": "2026-01-01T00:00:00Z"}` + "\n")
		}
	}
	req, _ := http.NewRequest("POST", s.command+"/v1/imports", strings.NewReader(b.String()))
	req.Header.Set("Authorization", "Bearer admin")
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(location, "/v1/imports/") {
		t.Fatalf("upload: %d, Location %q", resp.StatusCode, location)
	}

	var job struct {
		State                                string
		Rows, Accepted, Duplicates, Rejected int
		Rejections                           []importer.Rejection
	}
	deadline := time.Now().Add(15 * time.Second)
	for job.State != importer.StateDone {
		if time.Now().After(deadline) {
			t.Fatalf("the job is %+v, want done", job)
		}
		time.Sleep(20 * time.Millisecond)
		if st := call(t, "GET", s.command+location, "admin", "", &job); st != 200 {
			t.Fatalf("get job: %d", st)
		}
	}
	if job.Rows != 302 || job.Accepted != 300 || job.Rejected != 2 || len(job.Rejections) != 2 ||
		job.Rejections[0].Line != 2 || job.Rejections[1].Line != 4 || !strings.Contains(job.Rejections[1].Reason, "nope") {
		t.Fatalf("job %+v: want 302 rows, 300 accepted, lines 2 and 4 rejected", job)
	}
	var daily struct{ Days []struct{ Count int } }
	eventually(t, s.read+"/v1/stations/krk-1/measurements/daily?type=pm25", &daily, func() bool {
		total := 0
		for _, d := range daily.Days {
			total += d.Count
		}
		return total == 300
	})
}

// failingOnce is a command side whose first command fails with an error
// that is nobody's fault (PostgreSQL restarting, say).
type failingOnce struct {
	importer.Dispatcher
	failed atomic.Bool
}

func (d *failingOnce) Dispatch(ctx context.Context, cmd any) (commands.Outcome, error) {
	if !d.failed.Swap(true) {
		return commands.Outcome{}, fmt.Errorf("connection reset by peer")
	}
	return d.Dispatcher.Dispatch(ctx, cmd)
}

// TestImport_AJobStoppedByAnErrorIsResumedAndABadFileFailsAtOnce: a job
// stopped by a passing error is taken again once its lease ran out and
// ends done; a file with a bad header fails at its first attempt.
func TestImport_AJobStoppedByAnErrorIsResumedAndABadFileFailsAtOnce(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	e.register(t, "st")
	ctx := context.Background()
	jobs := importjobs.New(e.pool)
	good, err := jobs.Create(ctx, importer.CSV, strings.NewReader("station,type,value,measured_at\nst,pm25,1,2025-01-01T00:00:00Z\nst,pm25,2,2025-01-01T00:01:00Z\n"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := jobs.Create(ctx, importer.CSV, strings.NewReader("station,kind,value,measured_at\nst,pm25,1,2025-01-01T00:00:00Z\n"))
	if err != nil {
		t.Fatal(err)
	}
	im := importer.New(&failingOnce{Dispatcher: e.bus}, importer.Config{Policy: domain.DefaultTelemetryPolicy})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	r := importer.NewRunner(im, jobs, importer.RunnerConfig{Lease: 200 * time.Millisecond, Poll: 20 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		g, err := jobs.Get(ctx, good.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := jobs.Get(ctx, bad.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.State == importer.StateDone && b.State == importer.StateFailed {
			if g.Attempts != 2 || g.Accepted != 2 || b.Attempts != 1 || !strings.Contains(b.Failure, `"kind"`) {
				t.Fatalf("good job %+v, bad job %+v: want done at the second attempt, failed at the first naming the column", g, b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("good job %s (%d attempts), bad job %s: want done and failed", g.State, g.Attempts, b.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
