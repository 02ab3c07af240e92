package service_test

import (
	"net/http"
	"testing"
	"time"
)

// TestSystem_ReadKeysCreatedAndRevokedThroughTheCommandAPI follows a read
// key through the whole system: created on the command API, it opens the
// read API once the projector has applied it, only for its devices;
// revoked, it is refused within the documented bound (the projector's
// wake-up plus FLEETPULSE_READ_KEY_CACHE_TTL, 1 s by default).
func TestSystem_ReadKeysCreatedAndRevokedThroughTheCommandAPI(t *testing.T) {
	s := startSystem(t)
	for _, id := range []string{"krk-1", "krk-2"} {
		if st := call(t, "POST", s.command+"/v1/stations", "admin",
			`{"id": "`+id+`", "name": "Kraków", "location": {"lat": 50.06, "lon": 19.94}}`, nil); st != 201 {
			t.Fatalf("register %s: %d", id, st)
		}
	}
	var key struct{ ID, Key string }
	if st := call(t, "POST", s.command+"/v1/read-keys", "admin", `{"name": "depot", "devices": ["krk-1"]}`, &key); st != 201 || key.Key == "" {
		t.Fatalf("create read key: %d %+v", st, key)
	}
	created := time.Now()
	own := s.read + "/v1/stations/krk-1"
	waitStatus(t, own, key.Key, http.StatusOK, 5*time.Second)
	t.Logf("a new key opened the read API %s after its creation", time.Since(created).Round(time.Millisecond))
	for _, c := range []struct {
		url, token string
		want       int
	}{
		{s.read + "/v1/stations/krk-2", key.Key, http.StatusForbidden},
		{s.read + "/v1/stations", key.Key, http.StatusForbidden},
		{own, "", http.StatusUnauthorized},
		{own, key.Key + "x", http.StatusUnauthorized},
		{own, "admin", http.StatusOK},
	} {
		if st := call(t, "GET", c.url, c.token, "", nil); st != c.want {
			t.Errorf("GET %s with %q: %d, want %d", c.url, c.token, st, c.want)
		}
	}

	if st := call(t, "DELETE", s.command+"/v1/read-keys/"+key.ID, "admin", "", nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d", st)
	}
	revoked := time.Now()
	// The bound: the projector wakes on the log's notification (polling
	// every 50 ms here) and the read API believes a key for 1 s.
	waitStatus(t, own, key.Key, http.StatusUnauthorized, 3*time.Second)
	t.Logf("a revoked key was refused %s after DELETE answered", time.Since(revoked).Round(time.Millisecond))
}

// waitStatus polls url with token until it answers want, failing after within.
func waitStatus(t *testing.T, url, token string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := call(t, "GET", url, token, "", nil)
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d after %s, want %d", url, st, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
