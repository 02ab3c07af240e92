package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestDeviceRateLimiter_LimitsEachDeviceOnItsOwn(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewDeviceRateLimiter(2, 3, func() time.Time { return now })
	h := l.Middleware(func(r *http.Request) string { return r.URL.Query().Get("device") })(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) }))
	send := func(device string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/?device="+device, nil))
		return rec
	}
	for i := 0; i < 3; i++ {
		if got := send("a").Code; got != http.StatusCreated {
			t.Fatalf("request %d within the burst: %d", i, got)
		}
	}
	rec := send("a")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the burst: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := send("b").Code; got != http.StatusCreated {
		t.Fatalf("another device was limited too: %d", got)
	}
	if got := send("").Code; got != http.StatusCreated {
		t.Fatalf("a request naming no device was limited: %d", got)
	}
	now = now.Add(500 * time.Millisecond) // one token back at 2/s
	if got := send("a").Code; got != http.StatusCreated {
		t.Fatalf("after the refill: %d", got)
	}
	if got := send("a").Code; got != http.StatusTooManyRequests {
		t.Fatalf("the refill gave more than one token: %d", got)
	}
}
