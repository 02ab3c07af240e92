package readapi_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// toldListener is the real commit listener, remembering the newest
// position it has told the read API about (after the API's callback
// returned): what "the newest commit the cache was told about" is.
type toldListener struct {
	inner readapi.CommitListener
	told  atomic.Uint64 // Commit of the newest position told
}

func (l *toldListener) Listen(ctx context.Context, connected, disconnected func(), commit func(readapi.Commit)) error {
	return l.inner.Listen(ctx, connected, disconnected, func(c readapi.Commit) {
		commit(c)
		if c.Position.Commit > l.told.Load() {
			l.told.Store(c.Position.Commit)
		}
	})
}

// liveSystem is a read API listening to commits, and a writer committing
// as the projector does.
type liveSystem struct {
	url      string
	api      *readapi.API
	writer   *readmodel.Writer
	listener *toldListener
	pos      domain.Position
	base     time.Time
}

// smallSocketBuffers makes sockets whose kernel buffers hold about 4 KiB,
// so a writer to a client that does not read blocks soon.
func smallSocketBuffers(opt int) func(_, _ string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 4096) })
	}
}

func newLiveSystem(t *testing.T, cfg readapi.Config) (*liveSystem, *pgxpool.Pool) {
	cfg.Auth.Open = true // these tests are about the cache and live push, auth_test.go about keys
	t.Helper()
	pool, _ := pgtest.NewDatabase(t)
	addStation(t, pool, "st-1", "")
	addStation(t, pool, "st-2", "")
	w, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(context.Background(), projections.ReadModels); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := &toldListener{inner: readmodel.NewCommitListener(pool.Config().ConnString(), logger)}
	cfg.Commits = l
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	api := readapi.New(mustQueries(t, pool), cfg, time.Now, httpx.NewRegistry(), logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = api.Run(ctx)
	}()
	srv := httptest.NewUnstartedServer(api)
	ln, err := (&net.ListenConfig{Control: smallSocketBuffers(syscall.SO_SNDBUF)}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	for deadline := time.Now().Add(10 * time.Second); !api.Listening(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the read API never heard of the commit channel")
		}
	}
	return &liveSystem{url: srv.URL, api: api, writer: w, listener: l,
		base: time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)}, pool
}

// commit applies one batch of n points of station device (values value,
// value+1, ...), measured 10 ms apart, with their
// daily and latest aggregates, as the projector commits a batch.
func (s *liveSystem) commit(t testing.TB, device string, value, n int) domain.Position {
	t.Helper()
	to := domain.Position{Commit: s.pos.Commit + 10, Prepare: s.pos.Commit + 10}
	if err := s.writer.Apply(context.Background(), projections.ReadModels, s.pos, to, s.changes(device, value, n)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	s.pos = to
	return to
}

// changes is what a batch of n points of station device (values value,
// value+1, ...) changes.
func (s *liveSystem) changes(device string, value, n int) *projections.Changes {
	c := &projections.Changes{Daily: map[projections.DayKey]*projections.Aggregate{},
		Latest: map[projections.SeriesKey]projections.Point{}, Events: 1}
	for i := 0; i < n; i++ {
		v := float64(value + i)
		at := s.base.Add(time.Duration(value+i) * 10 * time.Millisecond)
		c.Measurements = append(c.Measurements, projections.MeasurementRow{DeviceID: device, MeasurementID: fmt.Sprintf("m-%d", value+i),
			Type: "pm25", Value: v, MeasuredAt: at, RecordedAt: at})
		key := projections.DayKey{SeriesKey: projections.SeriesKey{DeviceID: device, Name: "pm25"},
			Day: time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)}
		agg := c.Daily[key]
		if agg == nil {
			agg = &projections.Aggregate{Min: v, Max: v}
			c.Daily[key] = agg
		}
		agg.Count++
		agg.Sum += v
		agg.Max = max(agg.Max, v)
		agg.Min = min(agg.Min, v)
		c.Latest[key.SeriesKey] = projections.Point{Value: v, At: at}
	}
	return c
}

func fetchRaw(t testing.TB, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// No transparent gzip: the test looks at what the server sent.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestCache_AMatchingETagGets304AndGzipIsTheSameBody: a cached view carries
// an ETag and Cache-Control; asked again with that ETag it is a 304 without
// a body; gzip is sent to a client that takes it and inflates to the same
// bytes; a commit to the station changes the ETag.
func TestCache_AMatchingETagGets304AndGzipIsTheSameBody(t *testing.T) {
	t.Parallel()
	s, _ := newLiveSystem(t, readapi.Config{})
	s.commit(t, "st-1", 0, 100)
	from, to := s.base.Format(time.RFC3339), s.base.Add(time.Hour).Format(time.RFC3339)
	url := s.url + "/v1/stations/st-1/measurements?type=pm25&from=" + from + "&to=" + to

	resp, body := fetchRaw(t, url, nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("first answer: %d ETag %q Cache-Control %q", resp.StatusCode, etag, resp.Header.Get("Cache-Control"))
	}
	var pl struct{ Points []json.RawMessage }
	if err := json.Unmarshal(body, &pl); err != nil || len(pl.Points) != 100 {
		t.Fatalf("first answer holds %d points (%v), want 100", len(pl.Points), err)
	}

	resp, again := fetchRaw(t, url, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified || len(again) != 0 || resp.Header.Get("ETag") != etag {
		t.Errorf("with If-None-Match %s: %d, %d bytes, ETag %q; want 304, no body, the same ETag", etag, resp.StatusCode, len(again), resp.Header.Get("ETag"))
	}

	resp, zipped := fetchRaw(t, url, map[string]string{"Accept-Encoding": "br;q=1, gzip;q=0.5"})
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(string(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	inflated, _ := io.ReadAll(zr)
	if string(inflated) != string(body) {
		t.Error("the gzip body does not inflate to the identity body")
	}
	if resp, _ := fetchRaw(t, url, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": resp.Header.Get("ETag")}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("with the gzip ETag: %d, want 304", resp.StatusCode)
	}

	s.commit(t, "st-1", 100, 1)
	waitTold(t, s)
	resp, _ = fetchRaw(t, url, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Errorf("after a commit to st-1: %d with ETag %q; want 200 with a new ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

func waitTold(t testing.TB, s *liveSystem) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.listener.told.Load() < s.pos.Commit; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the commit notification never arrived")
		}
	}
}

// TestCache_NeverServesAnAnswerOlderThanTheNewestCommitItWasToldAbout
// commits one point at a time while readers ask for the raw view, the
// daily view and latest values at once; every answer must hold at least
// the points of every commit the API had been told about when the request
// was sent. Run under -race.
func TestCache_NeverServesAnAnswerOlderThanTheNewestCommitItWasToldAbout(t *testing.T) {
	t.Parallel()
	s, _ := newLiveSystem(t, readapi.Config{})
	const commits = 60
	from, to := s.base.Format(time.RFC3339), s.base.Add(time.Hour).Format(time.RFC3339)
	day := s.base.Format(time.DateOnly)
	views := []struct {
		path  string
		count func(body []byte) int
	}{
		{"/v1/stations/st-1/measurements?type=pm25&from=" + from + "&to=" + to, func(b []byte) int {
			var v struct{ Points []json.RawMessage }
			_ = json.Unmarshal(b, &v)
			return len(v.Points)
		}},
		{"/v1/stations/st-1/measurements/daily?type=pm25&from=" + day + "&to=" + day, func(b []byte) int {
			var v struct{ Days []struct{ Count int } }
			_ = json.Unmarshal(b, &v)
			if len(v.Days) == 0 {
				return 0
			}
			return v.Days[0].Count
		}},
		{"/v1/stations/st-1/latest", func(b []byte) int {
			var v struct{ Latest []struct{ Value float64 } }
			_ = json.Unmarshal(b, &v)
			if len(v.Latest) == 0 {
				return 0
			}
			return int(v.Latest[0].Value) + 1
		}},
	}
	// st-1's commit k (0-based) is at position 20k+10 (st-2's at 20k+20):
	// after position P was told, st-1 has (P+10)/20 points.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, stale atomic.Int64
	for r := 0; r < 6; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			v := views[r%len(views)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				told := int((s.listener.told.Load() + 10) / 20)
				resp, body := fetchRaw(t, s.url+v.path, nil)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: %d %s", v.path, resp.StatusCode, body)
					return
				}
				reads.Add(1)
				if got := v.count(body); got < told {
					stale.Add(1)
					t.Errorf("GET %s sent after commit %d was told: the answer holds %d", v.path, told, got)
				}
			}
		}(r)
	}
	for k := 0; k < commits; k++ {
		s.commit(t, "st-1", k, 1)
		s.commit(t, "st-2", k, 1) // a commit of another station changes nothing of st-1's
	}
	waitTold(t, s)
	close(stop)
	wg.Wait()
	if reads.Load() < commits {
		t.Errorf("only %d reads during %d commits", reads.Load(), commits)
	}
	t.Logf("%d reads, %d stale", reads.Load(), stale.Load())
}

// sseEvent is one event read off a stream.
type sseEvent struct {
	id, event, data string
}

// readEvents reads events off a stream to ch until it ends.
func readEvents(body io.Reader, ch chan<- sseEvent) {
	defer close(ch)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.event != "" || ev.data != "" {
				ch <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func openStream(t *testing.T, ctx context.Context, url, lastID string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		readEvents(resp.Body, ch)
	}()
	return ch
}

// pointValues are the values of a change event's points.
func pointValues(t testing.TB, ev sseEvent) []int {
	t.Helper()
	var c struct {
		Position string
		Points   []struct{ Value float64 }
	}
	if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
		t.Fatalf("event data %q: %v", ev.data, err)
	}
	if c.Position != ev.id {
		t.Errorf("event id %q, data position %q", ev.id, c.Position)
	}
	out := make([]int, len(c.Points))
	for i, p := range c.Points {
		out[i] = int(p.Value)
	}
	return out
}

func next(t testing.TB, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return sseEvent{}
}

// TestLive_ResumingAfterADroppedConnectionDeliversEveryPointOnceInOrder:
// a client reads a few changes, loses its connection while more are
// committed, reconnects with the id it saw last and gets, from the store
// then live, every later point exactly once and in order.
func TestLive_ResumingAfterADroppedConnectionDeliversEveryPointOnceInOrder(t *testing.T) {
	t.Parallel()
	s, _ := newLiveSystem(t, readapi.Config{})
	url := s.url + "/v1/stations/st-1/live"
	ctx, drop := context.WithCancel(context.Background())
	ch := openStream(t, ctx, url, "")
	var got []int
	lastID := ""
	for k := 0; k < 10; k++ {
		s.commit(t, "st-1", 3*k, 3)
		s.commit(t, "st-2", 3*k, 3)
	}
	for len(got) < 12 {
		ev := next(t, ch)
		got = append(got, pointValues(t, ev)...)
		lastID = ev.id
	}
	drop()
	for k := 10; k < 20; k++ {
		s.commit(t, "st-1", 3*k, 3)
	}
	ch = openStream(t, context.Background(), url, lastID)
	for k := 20; k < 25; k++ {
		s.commit(t, "st-1", 3*k, 3)
	}
	for len(got) < 75 {
		ev := next(t, ch)
		got = append(got, pointValues(t, ev)...)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("points %v: want 0..74 once each, in order", got)
		}
	}
	if len(got) != 75 {
		t.Fatalf("%d points, want 75", len(got))
	}
}

// TestLive_ASlowClientIsDroppedAndDoesNotDelayOthers: a client that never
// reads its stream is disconnected once its buffer is full, while another
// client of the same station gets every change within a second of its
// commit.
func TestLive_ASlowClientIsDroppedAndDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	s, _ := newLiveSystem(t, readapi.Config{LiveBuffer: 2})
	url := s.url + "/v1/stations/st-1/live"
	// The slow client: sends its request, never reads a byte, with a small
	// receive buffer so the server's writes block soon.
	slowReq, _ := http.NewRequest(http.MethodGet, url, nil)
	dialer := &net.Dialer{Control: smallSocketBuffers(syscall.SO_RCVBUF)}
	tr := &http.Transport{DialContext: dialer.DialContext}
	defer tr.CloseIdleConnections()
	slowResp, err := tr.RoundTrip(slowReq)
	if err != nil {
		t.Fatal(err)
	}
	defer slowResp.Body.Close()
	fast := openStream(t, context.Background(), url, "")

	const commits, perCommit = 40, 300 // ~0.7 MB of frames: more than the slow client's socket takes
	var worst time.Duration
	for k := 0; k < commits; k++ {
		s.commit(t, "st-1", k*perCommit, perCommit)
		committed := time.Now()
		ev := next(t, fast)
		if d := time.Since(committed); d > worst {
			worst = d
		}
		if vs := pointValues(t, ev); len(vs) != perCommit || vs[0] != k*perCommit {
			t.Fatalf("change %d: %d points from %d", k, len(vs), vs[0])
		}
	}
	if worst > time.Second {
		t.Errorf("the reading client got a change %v after its commit, want under 1 s", worst)
	}
	// The slow client's stream ended early: it got fewer changes than
	// were committed (it resumes with Last-Event-ID when it reconnects).
	ch := make(chan sseEvent, 16*commits)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		readEvents(slowResp.Body, ch)
	}()
	select {
	case <-ended:
	case <-time.After(15 * time.Second):
		t.Fatal("the stream of the client that did not read is still open")
	}
	n := 0
	for ev := range ch {
		if ev.event == "change" {
			n++
		}
	}
	if n >= commits {
		t.Errorf("the client that did not read got all %d changes; want it dropped", n)
	}
	t.Logf("slow client: %d of %d changes before it was dropped; worst delay of the other %v", n, commits, worst)
}

// TestLive_ACommitOfMoreDevicesThanAPageReachesEverySubscriber: one commit
// touching 600 devices (more than one page of the journal) reaches the
// subscriber of the device listed last, and the next commit too.
func TestLive_ACommitOfMoreDevicesThanAPageReachesEverySubscriber(t *testing.T) {
	t.Parallel()
	s, _ := newLiveSystem(t, readapi.Config{})
	ch := openStream(t, context.Background(), s.url+"/v1/stations/st-1/live", "")
	c := &projections.Changes{Events: 1}
	for i := 0; i < 600; i++ {
		c.Measurements = append(c.Measurements, projections.MeasurementRow{DeviceID: fmt.Sprintf("d-%03d", i),
			MeasurementID: fmt.Sprintf("d-%d", i), Type: "pm25", Value: 1, MeasuredAt: s.base, RecordedAt: s.base})
	}
	c.Measurements = append(c.Measurements, projections.MeasurementRow{DeviceID: "st-1", MeasurementID: "m-0",
		Type: "pm25", Value: 0, MeasuredAt: s.base, RecordedAt: s.base})
	to := domain.Position{Commit: 10, Prepare: 10}
	if err := s.writer.Apply(context.Background(), projections.ReadModels, s.pos, to, c); err != nil {
		t.Fatal(err)
	}
	s.pos = to
	s.commit(t, "st-1", 1, 1)
	var got []int
	for len(got) < 2 {
		got = append(got, pointValues(t, next(t, ch))...)
	}
	if len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Errorf("points %v, want [0 1]", got)
	}
}

// TestLive_AnotherCheckpointsCommitsDoNotMoveLivePush: the alerting
// forwarder keeps its checkpoint through the same writer, at positions of
// its own; its commits must neither notify nor make live push skip the
// read models' changes behind them.
func TestLive_AnotherCheckpointsCommitsDoNotMoveLivePush(t *testing.T) {
	t.Parallel()
	s, _ := newLiveSystem(t, readapi.Config{})
	ch := openStream(t, context.Background(), s.url+"/v1/stations/st-1/live", "")
	ctx := context.Background()
	if _, err := s.writer.Checkpoint(ctx, "forwarder"); err != nil {
		t.Fatal(err)
	}
	ahead := domain.Position{Commit: 1_000_000, Prepare: 1_000_000}
	if err := s.writer.Apply(ctx, "forwarder", domain.Position{}, ahead, &projections.Changes{Events: 5}); err != nil {
		t.Fatal(err)
	}
	s.commit(t, "st-1", 0, 1)
	if got := pointValues(t, next(t, ch)); len(got) != 1 || got[0] != 0 {
		t.Errorf("points %v, want [0]", got)
	}
}

// TestLive_PartitionedProjectorsReachSubscribersWhateverOrderTheyCommitIn:
// with two shares, share 0 commits far ahead in the log before share 1
// commits an older position: st-2's subscriber (share 1) still gets its
// change, st-1's (share 0) gets its own, the cache answers st-2's new
// latest value, and a stream resumed on share 1 is not told to reset by
// share 0's pruning.
func TestLive_PartitionedProjectorsReachSubscribersWhateverOrderTheyCommitIn(t *testing.T) {
	t.Parallel()
	s, pool := newLiveSystem(t, readapi.Config{})
	ctx := context.Background()
	if projections.ShareOf("st-1", 2) != 0 || projections.ShareOf("st-2", 2) != 1 {
		t.Fatal("the test's stations are not one in each share")
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_shares (projection, shares) VALUES ($1, 2)`, projections.ReadModels); err != nil {
		t.Fatal(err)
	}
	share0 := projections.Share{Index: 0, Count: 2}.CheckpointName(projections.ReadModels)
	share1 := projections.Share{Index: 1, Count: 2}.CheckpointName(projections.ReadModels)
	for _, name := range []string{share0, share1} {
		if _, err := s.writer.Checkpoint(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	latest := func() int {
		t.Helper()
		resp, body := fetchRaw(t, s.url+"/v1/stations/st-2/latest", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("latest: %d %s", resp.StatusCode, body)
		}
		var v struct{ Latest []struct{ Value float64 } }
		if err := json.Unmarshal(body, &v); err != nil || len(v.Latest) == 0 {
			return -1
		}
		return int(v.Latest[0].Value)
	}
	if got := latest(); got != -1 {
		t.Fatalf("latest before any commit: %d", got)
	}
	st1 := openStream(t, ctx, s.url+"/v1/stations/st-1/live", "")
	st2 := openStream(t, ctx, s.url+"/v1/stations/st-2/live", "")

	apply := func(name string, from, to domain.Position, device string, value int) {
		t.Helper()
		if err := s.writer.Apply(ctx, name, from, to, s.changes(device, value, 1)); err != nil {
			t.Fatalf("commit of %s: %v", name, err)
		}
	}
	at := func(p uint64) domain.Position { return domain.Position{Commit: p, Prepare: p} }
	apply(share0, domain.Position{}, at(1000), "st-1", 7)
	if got := pointValues(t, next(t, st1)); len(got) != 1 || got[0] != 7 {
		t.Fatalf("st-1 got %v, want [7]", got)
	}
	apply(share1, domain.Position{}, at(500), "st-2", 3)
	ev := next(t, st2)
	if got := pointValues(t, ev); len(got) != 1 || got[0] != 3 {
		t.Fatalf("st-2 got %v, want [3]", got)
	}
	if ev.id != at(500).String() {
		t.Errorf("st-2's change has id %q, want %q", ev.id, at(500).String())
	}
	for deadline := time.Now().Add(5 * time.Second); latest() != 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the cache still answers %d for st-2's latest value after share 1's commit", latest())
		}
	}

	// Share 0's pruning (its floor far above share 1's positions) must not
	// make a resumed share-1 stream reset: it reads st-2's changes after
	// its id from the journal.
	if _, err := pool.Exec(ctx, `INSERT INTO rm_live_floors (share, commit_pos, prepare_pos) VALUES (0, 900, 900)
		ON CONFLICT (share) DO UPDATE SET commit_pos = 900, prepare_pos = 900`); err != nil {
		t.Fatal(err)
	}
	apply(share1, at(500), at(600), "st-2", 4)
	resumed := openStream(t, ctx, s.url+"/v1/stations/st-2/live", at(500).String())
	ev = next(t, resumed)
	if ev.event != "change" {
		t.Fatalf("resumed stream sent %q, want a change", ev.event)
	}
	if got := pointValues(t, ev); len(got) != 1 || got[0] != 4 {
		t.Errorf("resumed st-2 got %v, want [4]", got)
	}
}
