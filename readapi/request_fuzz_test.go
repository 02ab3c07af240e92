package readapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/httpx/httpxtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// FuzzReadAPI sends arbitrary paths and query strings to a real read API
// over seeded read models. Whatever arrives, the answer is never a 5xx (a
// bad query is the caller's 400, not a failed SQL statement) and every JSON
// answer is valid JSON.
func FuzzReadAPI(f *testing.F) {
	for _, seed := range []struct{ path, query string }{
		{"/v1/stations", "active=true&limit=10"},
		{"/v1/stations", "cursor=AAAA&limit=0"},
		{"/v1/stations/st-1", ""},
		{"/v1/stations/st-1/measurements", "type=pm25&from=2026-05-30T00:00:00Z&to=2026-06-01T00:00:00Z&limit=100"},
		{"/v1/stations/st-1/measurements", "type=pm25&from=9999-12-31T23:59:59Z&to=0001-01-01T00:00:00Z"},
		{"/v1/stations/st-1/measurements", "type=PM2.5&limit=-1"},
		{"/v1/stations/st-1/measurements/daily", "type=pm25&from=2026-05-01&to=2026-06-01"},
		{"/v1/stations/st-1/measurements/daily", "type=pm25&from=9999-12-31&to=9999-12-31&as_of=2026-05-30T00:00:00Z"},
		{"/v1/stations/st-1/measurements/daily", "type=pm25&days=365"},
		{"/v1/stations/st-1/measurements/hourly", "type=pm25&from=1970-01-01T00:00:00Z"},
		{"/v1/stations/st-1/measurements/buckets/q15", "type=pm25"},
		{"/v1/stations/st-1/measurements/buckets/..%2F..", "type=pm25"},
		{"/v1/stations/st-1/latest", ""},
		{"/v1/stations/st-1/history", "limit=5"},
		{"/v1/stations/st-1/export", "format=csv&resolution=raw&type=pm25"},
		{"/v1/stations/st-1/export", "format=ndjson&resolution=daily&from=2026-01-01T00:00:00Z"},
		{"/v1/measurements", "type=pm25&station=st-1"},
		{"/v1/vehicles", ""},
		{"/v1/vehicles/veh-1/events", "limit=2&after=2026-05-31T00:00:00Z"},
		{"/v1/vehicles/veh-1/events", "cursor=MjAyNi0wNi0wMVQxMTo1MDowMFp8ZS0x"},
		{"/v1/vehicles/veh-1/events/e-1", ""},
		{"/v1/vehicles/veh-1/readings/daily", "type=speed_kmh"},
		{"/v1/vehicles/veh-1/history", ""},
		{"/v1/alerts", "active=true"},
		{"/v1/stations/st-1/alerts", "from=2026-05-01T00:00:00Z"},
		{"/v1/devices/st-1/status", ""},
		{"/v1/stations/st-1'; DROP TABLE rm_daily;--/latest", ""},
	} {
		f.Add(seed.path, seed.query)
	}

	pool, _ := pgtest.NewDatabase(f)
	seedReadModels(f, pool)
	h := readapi.NewHandler(mustQueries(f, pool), readapi.Config{RequestTimeout: 10 * time.Second, Auth: readapi.AuthConfig{Open: true}}, func() time.Time { return specNow },
		httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	f.Cleanup(srv.Close)
	client := &http.Client{Timeout: 5 * time.Second}

	f.Fuzz(func(t *testing.T, path, query string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(http.MethodGet, srv.URL+path+"?"+query, nil)
		if err != nil {
			return // not a request a client can send
		}
		a, judged := httpxtest.Send(t, client, req)
		if !judged {
			return
		}
		if a.Status >= 500 {
			t.Fatalf("GET %s: %d %s", req.URL, a.Status, a.Body)
		}
		if strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") && !json.Valid(a.Body) {
			t.Fatalf("GET %s: %d, answer is not JSON: %q", req.URL, a.Status, a.Body)
		}
	})
}

// TestReadAPI_HostileRequestsGetTheirStatus is the read side's table of
// hostile requests: each gets its documented client error (never a 5xx),
// and the read models are unchanged afterwards.
func TestReadAPI_HostileRequestsGetTheirStatus(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	seedReadModels(t, pool)
	srv := httptest.NewServer(readapi.NewHandler(mustQueries(t, pool), readapi.Config{RequestTimeout: 10 * time.Second, Auth: readapi.AuthConfig{Open: true}}, func() time.Time { return specNow },
		httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	rows := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM rm_devices) + (SELECT coalesce(sum(points), 0) FROM rm_measurement_chunks)
			+ (SELECT count(*) FROM rm_daily) + (SELECT coalesce(sum(events), 0) FROM rm_vehicle_event_chunks)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := rows()
	for _, tt := range []struct {
		name, target string
		status       int
		code         string
	}{
		{"SQL metacharacters in a device id", "/v1/stations/st-1'%20OR%20'1'='1/latest", 404, "device_not_found"},
		{"SQL metacharacters in a type", "/v1/stations/st-1/measurements?type=pm25'%3B%20DROP%20TABLE%20rm_daily%3B--", 400, "invalid_query"},
		{"path traversal in a device id", "/v1/stations/..%2F..%2Fetc%2Fpasswd/latest", 404, "not_found"},
		{"path traversal in a projection name", "/v1/stations/st-1/measurements/buckets/..%2Fq15?type=pm25", 404, "not_found"},
		{"a projection name that is not one", "/v1/stations/st-1/measurements/buckets/q15'--?type=pm25", 404, "projection_not_found"},
		{"NUL in a device id", "/v1/stations/%00/latest", 404, "device_not_found"},
		{"invalid UTF-8 in a device id", "/v1/vehicles/%AF", 404, "device_not_found"},
		{"invalid UTF-8 in an event id", "/v1/vehicles/veh-1/events/%FF%FE", 404, "event_not_found"},
		{"invalid UTF-8 in a query value", "/v1/stations/st-1/measurements?type=%FF", 400, "invalid_query"},
		{"NUL in a query value", "/v1/measurements?station=st%00-1&type=pm25", 400, "invalid_query"},
		{"a cursor that is not base64", "/v1/vehicles/veh-1/events?cursor=%%%", 400, "invalid_query"},
		{"a cursor hiding invalid UTF-8", "/v1/vehicles/veh-1/events?cursor=MzA0NC0wNC0xM1QxMzo0Mzo0M1p800", 400, "invalid_query"},
		{"a time in year 10000", "/v1/stations/st-1/measurements?type=pm25&from=10000-01-01T00:00:00Z", 400, "invalid_query"},
		{"a time before 1970", "/v1/stations/st-1/measurements?type=pm25&from=1969-12-31T23:59:59Z", 400, "invalid_query"},
		{"from after to", "/v1/stations/st-1/measurements?type=pm25&from=2026-06-01T00:00:00Z&to=2026-05-01T00:00:00Z", 400, "invalid_query"},
		{"a negative limit", "/v1/stations/st-1/measurements?type=pm25&limit=-1", 400, "invalid_query"},
		{"a limit beyond int64", "/v1/stations/st-1/measurements?type=pm25&limit=99999999999999999999999", 400, "invalid_query"},
		{"a date that does not exist", "/v1/stations/st-1/measurements/daily?type=pm25&from=2026-02-30", 400, "invalid_query"},
		{"a 100 kB query value", "/v1/stations/st-1/measurements?type=" + strings.Repeat("a", 100_000), 400, "invalid_query"},
		{"an unknown export format", "/v1/stations/st-1/export?type=pm25&format=xlsx", 400, "invalid_query"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.target)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("%d, answer is not JSON: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tt.status || body.Error.Code != tt.code {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body.Error.Code, tt.status, tt.code)
			}
		})
	}
	if rows() != before {
		t.Fatal("a read request changed the read models")
	}
}
