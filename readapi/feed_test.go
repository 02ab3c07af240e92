package readapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/readapi"
)

type feedAnswer struct {
	Events []struct {
		Position      string          `json:"position"`
		Type          string          `json:"type"`
		DeviceID      string          `json:"device_id"`
		RecordedAt    time.Time       `json:"recorded_at"`
		SchemaVersion int             `json:"schema_version"`
		Data          json.RawMessage `json:"data"`
	} `json:"events"`
	Next string `json:"next"`
}

func getFeed(t *testing.T, base, query, authorization string) (int, feedAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/feed"+query, nil)
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a feedAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, a
}

// TestFeed reads /v1/feed over a real event store: pages by position,
// filters by type and by a key's devices, refuses bad parameters, and
// long-polls until an append.
func TestFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewDatabase(t)
	keys := seedKeys(t, pool) // scoped: st-1 and veh-1
	log := eventstore.New(pool, eventstore.Config{PollInterval: 20 * time.Millisecond})
	t.Cleanup(log.Close)
	appendEvent := func(stream string, e domain.Event) {
		t.Helper()
		d, err := domain.NewEventData(uuid.NewString(), e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(ctx, stream, domain.AnyVersion, []domain.EventData{d}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	appendEvent(domain.DeviceStream("st-1"), domain.StationRegistered{StationID: "st-1", TokenHash: []byte("secret"), RegisteredAt: now})
	appendEvent(domain.DeviceStream("st-2"), domain.StationRegistered{StationID: "st-2", TokenHash: []byte("secret"), RegisteredAt: now})
	appendEvent(domain.DeviceStream("st-1"), domain.DeviceTokenRotated{DeviceID: "st-1", TokenHash: []byte("secret2"), RotatedAt: now})
	for _, dev := range []string{"st-1", "st-2", "st-1"} {
		if _, err := log.AppendTelemetry(ctx, domain.TelemetryStream(dev), uuid.NewString(),
			domain.RecordMeasurements(dev, []domain.Measurement{{ID: uuid.NewString(), Type: "pm25", Value: 1, MeasuredAt: now}})); err != nil {
			t.Fatal(err)
		}
	}
	h := readapi.NewHandler(mustQueries(t, pool), readapi.Config{RequestTimeout: 10 * time.Second, Auth: readapi.AuthConfig{AdminToken: testAdminToken}, Feed: log},
		time.Now, httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	admin, scoped := "Bearer "+testAdminToken, "Bearer "+keys.scoped
	// The feed shows a commit once every transaction begun before it has
	// ended, in any database of the server (transaction ids are the
	// server's): other packages' tests may hold it back a little.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, a := getFeed(t, srv.URL, "", admin); len(a.Events) == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	t.Run("EveryPublishedEventInOrderWithoutSecrets", func(t *testing.T) {
		status, a := getFeed(t, srv.URL, "", admin)
		if status != 200 || len(a.Events) != 5 { // the token rotation is not published
			t.Fatalf("%d, %d events", status, len(a.Events))
		}
		wantTypes := []string{"station_registered", "station_registered", "measurements_recorded", "measurements_recorded", "measurements_recorded"}
		for i, e := range a.Events {
			if e.Type != wantTypes[i] || e.SchemaVersion != 1 || e.RecordedAt.IsZero() || string(e.Data) == "" {
				t.Fatalf("event %d: %+v", i, e)
			}
			if e.Type == "station_registered" && json.Valid(e.Data) && containsKey(e.Data, "token_hash") {
				t.Fatalf("a registration carries its token hash: %s", e.Data)
			}
		}
		if a.Next != a.Events[4].Position {
			t.Fatalf("next %s, last event at %s", a.Next, a.Events[4].Position)
		}
	})
	t.Run("PagesResumeExactlyAfterAPosition", func(t *testing.T) {
		_, all := getFeed(t, srv.URL, "", admin)
		var got []string
		after := ""
		for range 10 {
			q := "?limit=2"
			if after != "" {
				q += "&after=" + after
			}
			_, page := getFeed(t, srv.URL, q, admin)
			for _, e := range page.Events {
				got = append(got, e.Position)
			}
			if page.Next == after {
				break
			}
			after = page.Next
		}
		if len(got) != len(all.Events) {
			t.Fatalf("pages of 2 gave %d events, one page %d", len(got), len(all.Events))
		}
		for i, e := range all.Events {
			if got[i] != e.Position {
				t.Fatalf("event %d: %s, want %s", i, got[i], e.Position)
			}
		}
	})
	t.Run("AScopedKeySeesItsDevicesOnly", func(t *testing.T) {
		status, a := getFeed(t, srv.URL, "", scoped)
		if status != 200 || len(a.Events) != 3 {
			t.Fatalf("%d, %d events, want st-1's 3", status, len(a.Events))
		}
		for _, e := range a.Events {
			if e.DeviceID != "st-1" {
				t.Fatalf("a key scoped to st-1 and veh-1 got an event of %s", e.DeviceID)
			}
		}
		if status, a := getFeed(t, srv.URL, "", "Bearer "+keys.otherDevices); status != 200 || len(a.Events) != 2 {
			t.Fatalf("a key of st-2: %d, %d events, want 2", status, len(a.Events))
		}
	})
	t.Run("TypesFilter", func(t *testing.T) {
		_, a := getFeed(t, srv.URL, "?types=station_registered", admin)
		if len(a.Events) != 2 {
			t.Fatalf("%d events, want 2 registrations", len(a.Events))
		}
	})
	t.Run("BadParametersAre400", func(t *testing.T) {
		for _, q := range []string{"?after=12", "?after=01-2", "?after=a-b", "?types=DeviceTokenRotated", "?limit=0", "?limit=10001", "?wait=31", "?wait=-1"} {
			if status, _ := getFeed(t, srv.URL, q, admin); status != 400 {
				t.Errorf("GET /v1/feed%s: %d, want 400", q, status)
			}
		}
	})
	t.Run("ALongPollAnswersWhenAnEventCommits", func(t *testing.T) {
		_, all := getFeed(t, srv.URL, "", admin)
		go func() {
			time.Sleep(300 * time.Millisecond)
			appendEvent(domain.AlertStream("st-1"), domain.AlertRaised{DeviceID: "st-1", Rule: "r", Type: "pm25", Threshold: 1, Value: 2, Since: now, At: now})
		}()
		began := time.Now()
		status, a := getFeed(t, srv.URL, "?wait=9&after="+all.Next, admin)
		if status != 200 || len(a.Events) != 1 || a.Events[0].Type != "alert_raised" {
			t.Fatalf("%d %+v", status, a)
		}
		if waited := time.Since(began); waited < 250*time.Millisecond || waited > 8*time.Second {
			t.Fatalf("the long poll answered after %v", waited)
		}
	})
	t.Run("WithoutAnEventStoreIs503", func(t *testing.T) {
		h := readapi.NewHandler(mustQueries(t, pool), readapi.Config{Auth: readapi.AuthConfig{Open: true}},
			time.Now, httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		srv := httptest.NewServer(h)
		defer srv.Close()
		if status, _ := getFeed(t, srv.URL, "", ""); status != 503 {
			t.Fatalf("%d, want 503", status)
		}
	})
}

func containsKey(raw json.RawMessage, key string) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	_, ok := m[key]
	return ok
}
