package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/natsfeed"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/infra/service"
	"github.com/fleetpulse/fleetpulse/readapi"
)

const feedTestNATS = "nats://127.0.0.1:4222"

// seenEvent is one integration event as a feed consumer received it.
type seenEvent struct {
	Position string `json:"position"`
	Type     string `json:"type"`
	DeviceID string `json:"device_id"`
}

// TestEventFeed_ConsumersRestartedDuringIngestSeeEveryEventInOrder appends
// telemetry from concurrent writers, and events of a slow writer whose
// transactions commit after later ones (out of position order), while an HTTP consumer of /v1/feed and a NATS
// subscriber, and the NATS feed's forwarder itself, are stopped and
// started again many times. Each consumer, with duplicates dropped by
// position, must see exactly the log's integration events of every device,
// in order.
func TestEventFeed_ConsumersRestartedDuringIngestSeeEveryEventInOrder(t *testing.T) {
	t.Parallel()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second); err != nil {
		t.Skipf("NATS is not reachable on 127.0.0.1:4222 (%v)", err)
	} else {
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, _ := pgtest.NewDatabase(t)
	store := eventstore.New(pool, eventstore.Config{PollInterval: 20 * time.Millisecond})
	t.Cleanup(store.Close)

	queries, err := readmodel.NewQueries(pool)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(readapi.NewHandler(queries, readapi.Config{RequestTimeout: 10 * time.Second,
		Auth: readapi.AuthConfig{Open: true}, Feed: store}, time.Now, httpx.NewRegistry(), logger))
	t.Cleanup(srv.Close)

	cfg := config.Config{FeedNATSURL: feedTestNATS, FeedNATSPrefix: "fptest_" + uuid.NewString()[:8]}
	nc, err := nats.Connect(feedTestNATS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	checkpoints, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}

	// Ingest: 6 stations, 3 writers each taking two, 40 batches per station.
	devices := []string{"st-a", "st-b", "st-c", "st-d", "st-e", "st-f"}
	ingestDone := make(chan struct{})
	var ingest sync.WaitGroup
	for w := range 3 {
		ingest.Add(1)
		go func() {
			defer ingest.Done()
			mine := devices[2*w : 2*w+2]
			for _, dev := range mine {
				reg, _ := domain.NewEventData(uuid.NewString(), domain.StationRegistered{StationID: dev, TokenHash: []byte("secret"), RegisteredAt: time.Now().UTC()})
				if _, err := store.Append(ctx, domain.DeviceStream(dev), domain.NoStream, []domain.EventData{reg}); err != nil {
					t.Error(err)
					return
				}
			}
			for i := range 40 {
				for _, dev := range mine {
					batch := domain.RecordMeasurements(dev, []domain.Measurement{
						{ID: fmt.Sprintf("m%d-a", i), Type: "pm25", Value: float64(i), MeasuredAt: time.Now().Add(-time.Minute)},
						{ID: fmt.Sprintf("m%d-b", i), Type: "pm10", Value: float64(i), MeasuredAt: time.Now().Add(-time.Minute)},
					})
					if _, err := store.AppendTelemetry(ctx, domain.TelemetryStream(dev), uuid.NewString(), batch); err != nil {
						t.Error(err)
						return
					}
				}
				time.Sleep(time.Duration(15+rand.IntN(20)) * time.Millisecond) // ingest lasts about a second
			}
		}()
	}
	// A slow writer: each of its transactions takes a position, then
	// commits 100-200 ms later, after transactions that began after it
	// (and so took higher positions) have committed. A reader that
	// skipped it would never see it.
	const slowEvents = 6
	ingest.Add(1)
	go func() {
		defer ingest.Done()
		for i := range slowEvents {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := tx.Exec(ctx, `
INSERT INTO events (event_id, stream_id, stream_version, event_type, data, recorded_at)
VALUES (gen_random_uuid(), 'telemetry-st-slow', $1::bigint, 'MeasurementsRecorded',
  jsonb_build_object('station_id', 'st-slow', 'measurements', jsonb_build_array(jsonb_build_object('id', 's' || $1::bigint, 'type', 'pm25', 'value', 1, 'measured_at', '2026-11-29T06:00:00Z'))), now())`, i); err != nil {
				t.Error(err)
				_ = tx.Rollback(ctx)
				return
			}
			time.Sleep(time.Duration(100+rand.IntN(100)) * time.Millisecond)
			if err := tx.Commit(ctx); err != nil {
				t.Error(err)
				return
			}
			_, _ = pool.Exec(ctx, `SELECT pg_notify('fleetpulse_events', '')`) // as the event store does
		}
	}()
	began := time.Now()
	go func() { ingest.Wait(); close(ingestDone); t.Logf("ingest took %v", time.Since(began)) }()

	// The NATS feed's forwarder, stopped after 30 to 150 ms each life
	// until ingest is done and the subscriber has caught up.
	subscriberDone := make(chan struct{})
	publisherDone := make(chan error, 1)
	go func() {
		publisherDone <- func() error {
			for lives := 0; ; lives++ {
				fwd, closeFeed, err := service.NewNATSFeed(ctx, cfg, store, store, checkpoints, logger)
				if err != nil {
					return err
				}
				life := time.Duration(30+rand.IntN(120)) * time.Millisecond
				select {
				case <-ingestDone:
					life = 20 * time.Second // the last life runs until the subscriber has all
				default:
				}
				lifeCtx, stop := context.WithTimeout(ctx, life)
				go func() {
					select {
					case <-subscriberDone:
						stop()
					case <-lifeCtx.Done():
					}
				}()
				err = fwd.Run(lifeCtx)
				stop()
				closeFeed()
				if err != nil {
					return err
				}
				select {
				case <-subscriberDone:
					if lives < 3 {
						return fmt.Errorf("the forwarder lived %d times only", lives+1)
					}
					return nil
				default:
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}()
	}()
	t.Cleanup(func() { _ = js.DeleteStream(natsfeed.StreamName(cfg.FeedNATSPrefix)) })

	var (
		httpSeen, natsSeen []seenEvent
		wg                 sync.WaitGroup
		httpErr, natsErr   error
		httpLives          int
		natsLives          int
	)
	wantTotal := len(devices)*41 + slowEvents
	truthCount := func() int { return wantTotal }
	wg.Add(2)
	go func() {
		defer wg.Done()
		httpSeen, httpLives, httpErr = consumeHTTP(ctx, srv.URL, ingestDone, store)
	}()
	go func() {
		defer wg.Done()
		defer close(subscriberDone)
		natsSeen, natsLives, natsErr = consumeNATS(ctx, js, cfg.FeedNATSPrefix, ingestDone, truthCount)
	}()
	wg.Wait()
	caughtUp := time.Since(began)
	if httpErr != nil || natsErr != nil {
		t.Fatalf("consumers: http %v, nats %v", httpErr, natsErr)
	}
	if err := <-publisherDone; err != nil {
		t.Fatalf("NATS feed: %v", err)
	}
	if httpLives < 3 || natsLives < 3 {
		t.Fatalf("consumers restarted too few times: http %d lives, nats %d", httpLives, natsLives)
	}

	truth := integrationEvents(t, ctx, store, wantTotal)
	if len(truth) != wantTotal {
		t.Fatalf("the log holds %d integration events, want %d", len(truth), wantTotal)
	}
	for name, seen := range map[string][]seenEvent{"HTTP": httpSeen, "NATS": natsSeen} {
		dups, err := samePerDevice(truth, seen)
		if err != nil {
			t.Errorf("%s consumer: %v", name, err)
		}
		t.Logf("%s consumer: %d events received, %d duplicates dropped by position", name, len(seen), dups)
	}
	t.Logf("lives: HTTP consumer %d, NATS subscriber %d; all caught up %v after ingest began", httpLives, natsLives, caughtUp)
}

// integrationEvents is what the log publishes, in log order, once the
// safe read shows want events (a transaction elsewhere on the server, of
// another package's tests, may hold it back a little), or after 10 s.
func integrationEvents(t *testing.T, ctx context.Context, store *eventstore.Store, want int) []seenEvent {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := publishedEvents(t, ctx, store)
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
	}
}

func publishedEvents(t *testing.T, ctx context.Context, store *eventstore.Store) []seenEvent {
	t.Helper()
	recs, err := store.ReadAfter(ctx, domain.Start, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	var out []seenEvent
	for _, r := range recs {
		e, ok, err := domain.Integration(r)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, seenEvent{Position: e.Position, Type: e.Type, DeviceID: e.DeviceID})
		}
	}
	return out
}

// samePerDevice checks that seen, with repeats of a position dropped,
// holds exactly truth's events of every device in truth's order; it returns
// how many repeats it dropped.
func samePerDevice(truth, seen []seenEvent) (int, error) {
	want := map[string][]string{}
	for _, e := range truth {
		want[e.DeviceID] = append(want[e.DeviceID], e.Position)
	}
	got := map[string][]string{}
	last := map[string]domain.Position{}
	had := map[string]bool{}
	dups := 0
	for _, e := range seen {
		p, err := domain.ParseFeedPosition(e.Position)
		if err != nil {
			return dups, fmt.Errorf("position %q: %v", e.Position, err)
		}
		if had[e.Position] {
			dups++
			continue
		}
		if prev, ok := last[e.DeviceID]; ok && !prev.Less(p) {
			return dups, fmt.Errorf("device %s: %s after %s: out of order", e.DeviceID, e.Position, domain.FeedPosition(prev))
		}
		had[e.Position], last[e.DeviceID] = true, p
		got[e.DeviceID] = append(got[e.DeviceID], e.Position)
	}
	for dev, w := range want {
		if !slices.Equal(got[dev], w) {
			return dups, fmt.Errorf("device %s: got %d events, want %d (first difference at %d)", dev, len(got[dev]), len(w), firstDiff(got[dev], w))
		}
	}
	if len(got) != len(want) {
		return dups, fmt.Errorf("events of %d devices, want %d", len(got), len(want))
	}
	return dups, nil
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// consumeHTTP follows /v1/feed as a consumer that keeps its position
// between lives: each life (a new HTTP client) reads one to four pages of
// 1 to 16 events, and sometimes "crashes" before saving the position of
// its last page, which it then reads again. It stops once ingest is done
// and a page ends at the log's head.
func consumeHTTP(ctx context.Context, base string, ingestDone <-chan struct{}, store *eventstore.Store) ([]seenEvent, int, error) {
	var seen []seenEvent
	saved := ""
	lives := 0
	for ; ; lives++ {
		client := &http.Client{Transport: &http.Transport{}}
		pos := saved
		for range 1 + rand.IntN(4) {
			url := fmt.Sprintf("%s/v1/feed?limit=%d&wait=1", base, 1+rand.IntN(16))
			if pos != "" {
				url += "&after=" + pos
			}
			var page struct {
				Events []seenEvent `json:"events"`
				Next   string      `json:"next"`
			}
			if err := getJSON(ctx, client, url, &page); err != nil {
				return seen, lives, err
			}
			seen = append(seen, page.Events...)
			pos = page.Next
			if len(page.Events) == 0 {
				select {
				case <-ingestDone:
					head, err := store.Head(ctx)
					if err != nil {
						return seen, lives, err
					}
					if p, _ := domain.ParseFeedPosition(pos); !p.Less(head) {
						return seen, lives + 1, nil
					}
				default:
				}
			}
		}
		if rand.IntN(3) > 0 { // a clean stop saves the position; a crash does not
			saved = pos
		}
		client.CloseIdleConnections()
		if ctx.Err() != nil {
			return seen, lives, ctx.Err()
		}
	}
}

func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// consumeNATS subscribes to every event subject with a stock JetStream
// subscription started at the stream sequence after the last message it
// handled; each life handles 5 to 60 messages (sometimes "crashing" before
// saving where it stood, so it gets them again), then unsubscribes. It
// stops once ingest is done and it has as many events as the log, or
// nothing new came for three seconds.
func consumeNATS(ctx context.Context, js nats.JetStreamContext, prefix string, ingestDone <-chan struct{}, truthCount func() int) ([]seenEvent, int, error) {
	var seen []seenEvent
	unique := map[string]bool{}
	var savedSeq uint64
	lives := 0
	progressed := time.Now()
	for ; ; lives++ {
		start := nats.DeliverAll()
		if savedSeq > 0 {
			start = nats.StartSequence(savedSeq + 1)
		}
		sub, err := js.SubscribeSync(prefix+".events.>", start, nats.AckNone())
		if errors.Is(err, nats.ErrNoMatchingStream) { // the feed has not made its stream yet
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			return seen, lives, err
		}
		seq := savedSeq
		for range 5 + rand.IntN(56) {
			msg, err := sub.NextMsg(200 * time.Millisecond)
			if errors.Is(err, nats.ErrTimeout) {
				break
			}
			if err != nil {
				_ = sub.Unsubscribe()
				return seen, lives, err
			}
			var e seenEvent
			if err := json.Unmarshal(msg.Data, &e); err != nil {
				return seen, lives, err
			}
			if h := msg.Header.Get(natsfeed.HeaderPosition); h != e.Position || msg.Header.Get(nats.MsgIdHdr) != e.Position {
				return seen, lives, fmt.Errorf("headers %v do not carry the position %s", msg.Header, e.Position)
			}
			if want := natsfeed.Subject(prefix, e.Type, e.DeviceID); msg.Subject != want {
				return seen, lives, fmt.Errorf("subject %s, want %s", msg.Subject, want)
			}
			seen = append(seen, e)
			if !unique[e.Position] {
				unique[e.Position], progressed = true, time.Now()
			}
			meta, err := msg.Metadata()
			if err != nil {
				return seen, lives, err
			}
			seq = meta.Sequence.Stream
		}
		_ = sub.Unsubscribe()
		if rand.IntN(3) > 0 {
			savedSeq = seq
		}
		select {
		case <-ingestDone:
			// Done with every event, or (a feed that skipped some) when
			// nothing new came for three seconds: the check then says what
			// is missing.
			if len(unique) >= truthCount() || time.Since(progressed) > 3*time.Second {
				return seen, lives + 1, nil
			}
		default:
		}
		if ctx.Err() != nil {
			return seen, lives, ctx.Err()
		}
	}
}

// TestSystem_EventFeedEndToEnd runs the processes as deployed, with
// FLEETPULSE_FEED_NATS_URL set: a station registered and its measurements
// posted on the command API reach a NATS subscriber of the feed's
// subjects and the read API's /v1/feed, without the token hash.
func TestSystem_EventFeedEndToEnd(t *testing.T) {
	t.Parallel()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second); err != nil {
		t.Skipf("NATS is not reachable on 127.0.0.1:4222 (%v)", err)
	} else {
		c.Close()
	}
	prefix := "fpsys_" + uuid.NewString()[:8]
	nc, err := nats.Connect(feedTestNATS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync(prefix + ".events.>")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := nc.JetStream()
	t.Cleanup(func() { _ = js.DeleteStream(natsfeed.StreamName(prefix)) })
	s := startSystemWith(t, map[string]string{"FLEETPULSE_FEED_NATS_URL": feedTestNATS, "FLEETPULSE_FEED_NATS_PREFIX": prefix})

	var reg struct{ ID, Token string }
	if st := call(t, "POST", s.command+"/v1/stations", "admin", `{"id": "feed-1", "name": "Feed", "location": {"lat": 50, "lon": 19}}`, &reg); st != 201 {
		t.Fatalf("register: %d", st)
	}
	if st := call(t, "POST", s.command+"/v1/stations/feed-1/measurements", reg.Token,
		fmt.Sprintf(`{"measurements": [{"id": "a", "type": "pm25", "value": 1, "measured_at": %q}]}`, time.Now().UTC().Format(time.RFC3339)), nil); st != 201 {
		t.Fatalf("post: %d", st)
	}
	var natsGot []string
	for len(natsGot) < 2 {
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("NATS: %v after %v", err, natsGot)
		}
		var e domain.IntegrationEvent
		if err := json.Unmarshal(msg.Data, &e); err != nil {
			t.Fatal(err)
		}
		if containsToken := json.Valid(e.Data) && strings.Contains(string(e.Data), "token_hash"); containsToken {
			t.Fatalf("published a token hash: %s", e.Data)
		}
		natsGot = append(natsGot, msg.Subject)
	}
	want := []string{prefix + ".events.station_registered.feed-1", prefix + ".events.measurements_recorded.feed-1"}
	if !slices.Equal(natsGot, want) {
		t.Fatalf("NATS subjects %v, want %v", natsGot, want)
	}
	var page struct {
		Events []seenEvent `json:"events"`
	}
	if st := call(t, "GET", s.read+"/v1/feed?wait=5", "admin", "", &page); st != 200 || len(page.Events) != 2 ||
		page.Events[0].Type != "station_registered" || page.Events[1].Type != "measurements_recorded" {
		t.Fatalf("/v1/feed: %d %+v", st, page.Events)
	}
}
