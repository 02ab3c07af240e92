package commandapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/bus"
	"github.com/fleetpulse/fleetpulse/infra/commandapi"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/importjobs"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

const admin = "test-admin-token"

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type server struct {
	url  string
	pool *pgxpool.Pool
}

func newServer(t testing.TB) server {
	t.Helper()
	return newServerWith(t, nil)
}

func newServerWith(t testing.TB, limiter *httpx.DeviceRateLimiter) server {
	t.Helper()
	return newServerLogging(t, limiter, io.Discard)
}

func newServerLogging(t testing.TB, limiter *httpx.DeviceRateLimiter, logs io.Writer) server {
	t.Helper()
	return newServerTimed(t, limiter, logs, 10*time.Second)
}

func newServerTimed(t testing.TB, limiter *httpx.DeviceRateLimiter, logs io.Writer, requestTimeout time.Duration) server {
	t.Helper()
	return newServerWithPolicy(t, limiter, logs, requestTimeout, domain.DefaultTelemetryPolicy)
}

func newServerWithPolicy(t testing.TB, limiter *httpx.DeviceRateLimiter, logs io.Writer, requestTimeout time.Duration, policy domain.TelemetryPolicy) server {
	t.Helper()
	pool, _ := pgtest.NewDatabase(t)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app := commands.NewApplication(eventstore.New(pool, eventstore.Config{Unbatched: true}), func() time.Time { return now }, policy).WithWebhookTargets(exampleTargets{})
	b, err := bus.NewInProcess(app, logger, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	h := commandapi.NewHandler(b, commandapi.Config{AdminToken: admin, MaxBodyBytes: 64 << 10, RequestTimeout: requestTimeout, DeviceLimiter: limiter,
		Imports: importjobs.New(pool), MaxImportBytes: 64 << 10},
		httpx.NewRegistry(), logger)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return server{url: srv.URL, pool: pool}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (s server) do(t testing.TB, method, path, token, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: response is not JSON: %q", method, path, raw)
		}
	}
	return out
}

func (s server) events(t testing.TB) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (s server) register(t testing.TB, kind, id string) string {
	t.Helper()
	body := fmt.Sprintf(`{"id": %q, "name": "n", "location": {"lat": 1, "lon": 2}, "timezone": "Europe/Warsaw"}`, id)
	if kind == "vehicles" {
		body = fmt.Sprintf(`{"vid": %q, "name": "n", "vin": "1HGCM82633A004352"}`, id)
	}
	r := s.do(t, "POST", "/v1/"+kind, admin, body)
	if r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %v", id, r.status, r.body)
	}
	return r.body["token"].(string)
}

func errorCode(r response) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestCommandAPI_RegisterAndRecordMeasurements(t *testing.T) {
	s := newServer(t)
	token := s.register(t, "stations", "st-1")
	if !strings.HasPrefix(token, "st-1.") {
		t.Fatalf("token %q does not name its device", token)
	}
	body := `{"measurements": [
		{"id": "a", "type": "pm25", "value": 12.5, "measured_at": "2026-06-01T11:00:00Z"},
		{"type": "pm10", "value": 20, "measured_at": "2026-06-01T11:00:00Z"}]}`
	r := s.do(t, "POST", "/v1/stations/st-1/measurements", token, body)
	if r.status != http.StatusCreated || r.body["accepted"] != 2.0 || r.body["duplicates"] != 0.0 {
		t.Fatalf("first post: %d %v", r.status, r.body)
	}
	r = s.do(t, "POST", "/v1/stations/st-1/measurements", token,
		`{"measurements": [{"id": "a", "type": "pm25", "value": 12.5, "measured_at": "2026-06-01T11:00:00Z"}]}`)
	if r.status != http.StatusCreated || r.body["accepted"] != 0.0 || r.body["duplicates"] != 1.0 {
		t.Fatalf("repeated id: %d %v", r.status, r.body)
	}
	if n := s.events(t); n != 2 {
		t.Fatalf("events stored = %d, want 2 (registration + one batch)", n)
	}
	var items int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM measurement_items`).Scan(&items); err != nil || items != 2 {
		t.Fatalf("measurements stored = %d (%v), want 2", items, err)
	}
}

func TestCommandAPI_TokensAndAuthorization(t *testing.T) {
	s := newServer(t)
	tokA := s.register(t, "stations", "st-a")
	tokB := s.register(t, "stations", "st-b")
	tokV := s.register(t, "vehicles", "veh-1")
	m := `{"measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`
	ev := `{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 10}}]}`
	forged := "st-a." + strings.Repeat("x", 43)
	tests := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"own token writes", "POST", "/v1/stations/st-a/measurements", tokA, m, 201, ""},
		{"admin writes for a device", "POST", "/v1/stations/st-a/measurements", admin, m, 201, ""},
		{"missing token", "POST", "/v1/stations/st-a/measurements", "", m, 401, domain.CodeUnauthorized},
		{"wrong secret", "POST", "/v1/stations/st-a/measurements", forged, m, 401, domain.CodeUnauthorized},
		{"garbage token", "POST", "/v1/stations/st-a/measurements", "garbage", m, 401, domain.CodeUnauthorized},
		{"another device's valid token", "POST", "/v1/stations/st-a/measurements", tokB, m, 403, domain.CodeForbidden},
		{"vehicle token on a station", "POST", "/v1/stations/st-a/measurements", tokV, m, 403, domain.CodeForbidden},
		{"station token on a vehicle", "POST", "/v1/vehicles/veh-1/events", tokA, ev, 403, domain.CodeForbidden},
		{"vehicle writes its events", "POST", "/v1/vehicles/veh-1/events", tokV, ev, 201, ""},
		{"device token on operator route", "POST", "/v1/stations", tokA, `{"name":"x","location":{"lat":1,"lon":1}}`, 403, domain.CodeForbidden},
		{"device token updating a vehicle", "PUT", "/v1/vehicles/veh-1", tokV, `{"name":"x"}`, 403, domain.CodeForbidden},
		{"no token on operator route", "DELETE", "/v1/vehicles/veh-1", "", "", 401, domain.CodeUnauthorized},
		{"unknown station", "POST", "/v1/stations/nope/measurements", admin, m, 404, domain.CodeNotFound},
		{"vehicle path names a station", "POST", "/v1/vehicles/st-a/events", admin, ev, 404, domain.CodeNotFound},
		{"registering an existing id", "POST", "/v1/stations", admin, `{"id":"st-a","name":"x","location":{"lat":1,"lon":1}}`, 409, domain.CodeExists},
		{"registering a station with a vehicle's id", "POST", "/v1/stations", admin, `{"id":"veh-1","name":"x","location":{"lat":1,"lon":1}}`, 409, domain.CodeExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.events(t)
			r := s.do(t, tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.status || errorCode(r) != tt.code {
				t.Fatalf("got %d %v, want %d %q", r.status, r.body, tt.status, tt.code)
			}
			if tt.status >= 400 && s.events(t) != before {
				t.Fatal("a refused request stored events")
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestCommandAPI_BadInputIsRefusedAndNothingStored(t *testing.T) {
	s := newServer(t)
	tok := s.register(t, "stations", "st")
	good := `{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}`
	batch := func(items ...string) string { return `{"measurements": [` + strings.Join(items, ",") + `]}` }
	tests := []struct {
		name, body string
		status     int
		code       string
		index      float64 // -1: no index
	}{
		{"malformed JSON", `{"measurements": [`, 400, "malformed_json", -1},
		{"not an object", `[1, 2]`, 400, "malformed_json", -1},
		{"trailing data", batch(good) + `{}`, 400, "malformed_json", -1},
		{"unknown field", `{"measurements": [], "extra": 1}`, 400, "malformed_json", -1},
		{"value of the wrong type", batch(`{"type": "pm25", "value": "12", "measured_at": "2026-06-01T11:00:00Z"}`), 400, "malformed_json", -1},
		{"NaN literal", batch(`{"type": "pm25", "value": NaN, "measured_at": "2026-06-01T11:00:00Z"}`), 400, "malformed_json", -1},
		{"number beyond float64", batch(`{"type": "pm25", "value": 1e400, "measured_at": "2026-06-01T11:00:00Z"}`), 400, "malformed_json", -1},
		{"timestamp not RFC 3339", batch(`{"type": "pm25", "value": 1, "measured_at": "yesterday"}`), 400, "malformed_json", -1},
		{"empty batch", batch(), 400, domain.CodeInvalid, -1},
		{"type breaks the name pattern", batch(good, `{"type": "PM2.5", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}`), 400, domain.CodeInvalid, 1},
		{"missing measured_at", batch(good, good, `{"type": "pm25", "value": 1}`), 400, domain.CodeInvalid, 2},
		{"before 1970", batch(`{"type": "pm25", "value": 1, "measured_at": "1969-12-31T23:59:59Z"}`), 400, domain.CodeInvalid, 0},
		{"far future", batch(`{"type": "pm25", "value": 1, "measured_at": "9999-01-01T00:00:00Z"}`), 400, domain.CodeInvalid, 0},
		{"beyond the 15-minute clock skew", batch(good, `{"type": "pm25", "value": 1, "measured_at": "2026-06-01T12:15:01Z"}`), 400, domain.CodeInvalid, 1},
		{"id with SQL metacharacters", batch(`{"id": "x'; DROP TABLE events;--", "type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}`), 400, domain.CodeInvalid, 0},
		{"body over the limit", batch(strings.Repeat(good+",", 2000) + good), 413, "body_too_large", -1},
		{"deeply nested JSON", `{"measurements": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, 400, "malformed_json", -1},
		{"invalid UTF-8 in an id", batch("{\"id\": \"a\xff\xfeb\", \"type\": \"pm25\", \"value\": 1, \"measured_at\": \"2026-06-01T11:00:00Z\"}"), 400, domain.CodeInvalid, 0},
		{"path traversal in an id", batch(`{"id": "../../etc/passwd", "type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}`), 400, domain.CodeInvalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.events(t)
			r := s.do(t, "POST", "/v1/stations/st/measurements", tok, tt.body)
			if r.status != tt.status || errorCode(r) != tt.code {
				t.Fatalf("got %d %v, want %d %q", r.status, r.body, tt.status, tt.code)
			}
			if tt.index >= 0 {
				e := r.body["error"].(map[string]any)
				if e["index"] != tt.index {
					t.Fatalf("error index = %v, want %v", e["index"], tt.index)
				}
			}
			if s.events(t) != before {
				t.Fatal("a refused batch stored events")
			}
		})
	}
}

func TestCommandAPI_VehicleLifecycleWithOptimisticConcurrency(t *testing.T) {
	s := newServer(t)
	tok := s.register(t, "vehicles", "van")
	r := s.do(t, "PUT", "/v1/vehicles/van", admin, `{"name": "Van 2", "plate": "WX 1"}`, "If-Match", `"0"`)
	if r.status != 200 || r.body["version"] != 1.0 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("update at version 0: %d %v", r.status, r.body)
	}
	r = s.do(t, "PUT", "/v1/vehicles/van", admin, `{"name": "Van 3"}`, "If-Match", "0")
	if r.status != 409 || errorCode(r) != domain.CodeConflict {
		t.Fatalf("stale If-Match: %d %v", r.status, r.body)
	}
	r = s.do(t, "PUT", "/v1/vehicles/van", admin, `{"name": ""}`)
	if r.status != 400 {
		t.Fatalf("empty name: %d %v", r.status, r.body)
	}
	r = s.do(t, "DELETE", "/v1/vehicles/van", admin, "")
	if r.status != 200 || r.body["version"] != 2.0 {
		t.Fatalf("decommission: %d %v", r.status, r.body)
	}
	before := s.events(t)
	r = s.do(t, "POST", "/v1/vehicles/van/events", tok, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z"}]}`)
	if r.status != 409 || errorCode(r) != domain.CodeDecommissioned {
		t.Fatalf("telemetry after decommission: %d %v", r.status, r.body)
	}
	if s.events(t) != before {
		t.Fatal("telemetry for a decommissioned vehicle was stored")
	}
	r = s.do(t, "PUT", "/v1/vehicles/van", admin, `{"name": "zombie"}`)
	if r.status != 409 {
		t.Fatalf("update after decommission: %d %v", r.status, r.body)
	}
}

func TestCommandAPI_VehicleEventsReturnTheirEIDs(t *testing.T) {
	s := newServer(t)
	tok := s.register(t, "vehicles", "van")
	r := s.do(t, "POST", "/v1/vehicles/van/events", tok, `{"events": [
		{"eid": "e-1", "type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 50}, "location": {"lat": 52, "lon": 21}},
		{"type": "door_opened", "occurred_at": "2026-06-01T11:00:01Z", "data": {"door": "rear"}}]}`)
	if r.status != 201 || r.body["accepted"] != 2.0 {
		t.Fatalf("post events: %d %v", r.status, r.body)
	}
	eids := r.body["eids"].([]any)
	if len(eids) != 2 || eids[0] != "e-1" || eids[1] == "" {
		t.Fatalf("eids = %v", eids)
	}
	for _, bad := range []string{
		`{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"Speed": 1}}]}`,
		`{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "data": [1]}]}`,
		`{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "location": {"lat": 91, "lon": 0}}]}`,
	} {
		if r := s.do(t, "POST", "/v1/vehicles/van/events", tok, bad); r.status != 400 {
			t.Errorf("%s: got %d, want 400", bad, r.status)
		}
	}
}

func TestCommandAPI_DeviceOverItsRateGets429WithRetryAfterAndNothingStored(t *testing.T) {
	s := newServerWith(t, httpx.NewDeviceRateLimiter(1, 2, time.Now))
	tokA := s.register(t, "stations", "st-a")
	tokB := s.register(t, "stations", "st-b")
	m := `{"measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`
	for i := 0; i < 2; i++ {
		if r := s.do(t, "POST", "/v1/stations/st-a/measurements", tokA, m); r.status != 201 {
			t.Fatalf("within the burst: %d", r.status)
		}
	}
	before := s.events(t)
	r := s.do(t, "POST", "/v1/stations/st-a/measurements", tokA, m)
	if r.status != 429 || r.header.Get("Retry-After") == "" || errorCode(r) != "rate_limited" {
		t.Fatalf("over the rate: %d %v %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	if s.events(t) != before {
		t.Fatal("a rate-limited request stored events")
	}
	if r := s.do(t, "POST", "/v1/stations/st-b/measurements", tokB, m); r.status != 201 {
		t.Fatalf("another device was limited: %d", r.status)
	}
	if r := s.do(t, "POST", "/v1/stations", admin, `{"name": "x", "location": {"lat": 1, "lon": 1}}`); r.status != 201 {
		t.Fatalf("an operator route was limited: %d", r.status)
	}
}

func TestCommandAPI_HostilePathsAndDeepVehicleDataAreRefused(t *testing.T) {
	s := newServer(t)
	tok := s.register(t, "vehicles", "van")
	before := s.events(t)
	for _, tt := range []struct {
		name, path, body string
		status           int
	}{
		{"path traversal in the device id", "/v1/vehicles/..%2F..%2Fetc/events", `{"events": []}`, 404},
		{"SQL metacharacters in the device id", "/v1/vehicles/van'%20OR%20'1'='1/events", `{"events": []}`, 403},
		{"NUL in the device id", "/v1/vehicles/%00/events", `{"events": []}`, 403},
		{"invalid UTF-8 in the device id", "/v1/vehicles/%FF%FE/events", `{"events": []}`, 403},
		{"deeply nested data", "/v1/vehicles/van/events", `{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "data": {"a": ` +
			strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}}]}`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, "POST", tt.path, tok, tt.body)
			if r.status != tt.status {
				t.Fatalf("got %d %v, want %d", r.status, r.body, tt.status)
			}
		})
	}
	if s.events(t) != before {
		t.Fatal("a hostile request stored events")
	}
}

func TestCommandAPI_RevokedTokenStopsWorkingUntilRotated(t *testing.T) {
	s := newServer(t)
	tok := s.register(t, "stations", "st")
	m := `{"measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`
	if r := s.do(t, "DELETE", "/v1/stations/st/token", admin, ""); r.status != 200 {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	if r := s.do(t, "POST", "/v1/stations/st/measurements", tok, m); r.status != 401 {
		t.Fatalf("revoked token: %d, want 401", r.status)
	}
	r := s.do(t, "POST", "/v1/stations/st/token", admin, "")
	if r.status != 200 {
		t.Fatalf("rotate: %d %v", r.status, r.body)
	}
	fresh := r.body["token"].(string)
	if r := s.do(t, "POST", "/v1/stations/st/measurements", fresh, m); r.status != 201 {
		t.Fatalf("new token: %d", r.status)
	}
	if r := s.do(t, "POST", "/v1/stations/st/measurements", tok, m); r.status != 401 {
		t.Fatalf("old token after rotation: %d, want 401", r.status)
	}
}

func TestCommandAPI_NoSecretInLogs(t *testing.T) {
	var logs strings.Builder
	s := newServerLogging(t, nil, &logs)
	tok := s.register(t, "stations", "st")
	m := `{"measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`
	s.do(t, "POST", "/v1/stations/st/measurements", tok, m)
	s.do(t, "POST", "/v1/stations/st/measurements", "st.wrong-secret", m)
	s.do(t, "POST", "/v1/stations/nope/measurements", admin, m)
	if logs.Len() == 0 {
		t.Fatal("nothing was logged: the test would prove nothing")
	}
	secret := tok[strings.IndexByte(tok, '.')+1:]
	for _, leaked := range []string{secret, admin, "wrong-secret"} {
		if strings.Contains(logs.String(), leaked) {
			t.Fatalf("a secret reached the logs: %q", leaked)
		}
	}
}

// TestCommandAPI_RequestOverItsTimeLimitGets503AndStoresNothing holds the
// station's stream row locked in another PostgreSQL transaction, so the
// append waits: the request must end at its time limit with 503 and
// Retry-After, and nothing may be stored once the lock is gone.
func TestCommandAPI_RequestOverItsTimeLimitGets503AndStoresNothing(t *testing.T) {
	const limit = 300 * time.Millisecond
	s := newServerTimed(t, nil, io.Discard, limit)
	tok := s.register(t, "stations", "st")
	m := `{"measurements": [{"id": "m1", "type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`
	if r := s.do(t, "POST", "/v1/stations/st/measurements", tok, m); r.status != 201 {
		t.Fatalf("first batch: %d %v", r.status, r.body)
	}
	ctx := context.Background()
	blocker, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx) //nolint:errcheck // released below; this is for early failures
	if _, err := blocker.Exec(ctx, `SELECT 1 FROM event_streams WHERE stream_id = 'telemetry-st' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	before := s.events(t)
	start := time.Now()
	r := s.do(t, "POST", "/v1/stations/st/measurements", tok,
		`{"measurements": [{"id": "m2", "type": "pm25", "value": 2, "measured_at": "2026-06-01T11:01:00Z"}]}`)
	took := time.Since(start)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || errorCode(r) != domain.CodeUnavailable {
		t.Fatalf("got %d %v (Retry-After %q), want 503 unavailable with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	if took < limit || took > limit+2*time.Second {
		t.Fatalf("answered after %s, want just after the %s limit", took, limit)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a request that went on after its answer would commit now
	if s.events(t) != before {
		t.Fatal("a request answered 503 stored its events after the lock was released")
	}
	if r := s.do(t, "POST", "/v1/stations/st/measurements", tok, m); r.status != 201 || r.body["duplicates"] != float64(1) {
		t.Fatalf("after the lock: %d %v, want 201 with the earlier batch as a duplicate", r.status, r.body)
	}
}

// TestCommandAPI_ACorrectionPastTheCorrectionWindowIs410Gone: a measurement
// measured before the raw retention (less two days) can no longer be
// corrected exactly; the operator is told so, with the measurement's time.
func TestCommandAPI_ACorrectionPastTheCorrectionWindowIs410Gone(t *testing.T) {
	s := newServerWithPolicy(t, nil, io.Discard, 10*time.Second, domain.TelemetryPolicy{MaxFutureSkew: time.Minute, CorrectionWindow: 48 * time.Hour})
	token := s.register(t, "stations", "st-1")
	old, recent := now.Add(-72*time.Hour).Format(time.RFC3339), now.Add(-24*time.Hour).Format(time.RFC3339)
	body := `{"measurements": [{"id": "old", "type": "pm25", "value": 1, "measured_at": "` + old + `"},
		{"id": "recent", "type": "pm25", "value": 2, "measured_at": "` + recent + `"}]}`
	if r := s.do(t, "POST", "/v1/stations/st-1/measurements", token, body); r.status != http.StatusCreated {
		t.Fatalf("post: %d %v", r.status, r.body)
	}
	fix := `{"value": 3, "reason": "recalibrated", "actor": "ops"}`
	r := s.do(t, "POST", "/v1/stations/st-1/measurements/old/correction", admin, fix)
	if r.status != http.StatusGone || errorCode(r) != domain.CodeExpired || !strings.Contains(fmt.Sprint(r.body), old) {
		t.Fatalf("correcting the old one: %d %v, want 410 measurement_expired naming %s", r.status, r.body, old)
	}
	if r := s.do(t, "POST", "/v1/stations/st-1/measurements/recent/retraction", admin, `{"reason": "sensor fault", "actor": "ops"}`); r.status != http.StatusCreated {
		t.Fatalf("retracting the recent one: %d %v", r.status, r.body)
	}
}
