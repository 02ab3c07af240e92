package readapi_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// The read API serves only reads: a write on one of its paths is 405 with
// Allow, not 404; a path it does not serve stays 404. No database is
// needed: no handler runs.
func TestReadAPI_AWrongMethodIs405WithAllow(t *testing.T) {
	h := readapi.NewHandler(nil, readapi.Config{RequestTimeout: time.Second}, time.Now, httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"POST", "/v1/stations", 405, "GET"},
		{"DELETE", "/v1/stations/st-1", 405, "GET"},
		{"PUT", "/v1/alerts", 405, "GET"},
		{"POST", "/v1/devices/st-1/status", 405, "GET"},
		{"POST", "/", 405, "GET, HEAD"},
		{"DELETE", "/dashboard/index.html", 405, "GET, HEAD"},
		{"POST", "/metrics", 405, "GET"},
		{"GET", "/v1/nothing", 404, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q %s, want %d Allow %q", tt.method, tt.path, rec.Code, rec.Header().Get("Allow"), rec.Body, tt.status, tt.allow)
		}
	}
}
