package readapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
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
	h := readapi.NewHandler(pool, readapi.Config{RequestTimeout: 10 * time.Second}, func() time.Time { return specNow },
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
		resp, err := client.Do(req)
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			t.Fatalf("GET %s: no answer within %s", req.URL, client.Timeout)
		}
		if err != nil {
			return // the client refused to send it
		}
		if resp.StatusCode == http.StatusBadRequest && resp.Header.Get("Content-Type") == "text/plain; charset=utf-8" {
			// net/http refused the request line itself (a space or a
			// control byte in the path, say); no handler of ours saw it.
			resp.Body.Close()
			return
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("GET %s: %d %s", req.URL, resp.StatusCode, raw)
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && !json.Valid(raw) {
			t.Fatalf("GET %s: %d, answer is not JSON: %q", req.URL, resp.StatusCode, raw)
		}
	})
}
