package readapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// readRoutes is every route of the read API that needs a key, by path
// template, with a request that a fleet-wide key gets a 200 for over
// seedReadModels' rows. device is the device the request reads ("" for a
// fleet-wide route). TestAuth_EveryRouteIsListed fails on a route that is
// neither here nor in readapi.PublicRoutes, so no new route goes untested.
var readRoutes = []struct {
	template, path, device string
}{
	{"/v1/stations", "/v1/stations", ""},
	{"/v1/stations/{id}", "/v1/stations/st-1", "st-1"},
	{"/v1/stations/{id}/measurements", "/v1/stations/st-1/measurements?type=pm25", "st-1"},
	{"/v1/stations/{id}/measurements/daily", "/v1/stations/st-1/measurements/daily?type=pm25", "st-1"},
	{"/v1/stations/{id}/measurements/hourly", "/v1/stations/st-1/measurements/hourly?type=pm25", "st-1"},
	{"/v1/stations/{id}/measurements/buckets/{projection}", "/v1/stations/st-1/measurements/buckets/q15?type=pm25", "st-1"},
	{"/v1/stations/{id}/latest", "/v1/stations/st-1/latest", "st-1"},
	{"/v1/stations/{id}/live", "/v1/stations/st-1/live", "st-1"},
	{"/v1/vehicles/{id}/live", "/v1/vehicles/veh-1/live", "veh-1"},
	{"/v1/stations/{id}/history", "/v1/stations/st-1/history", "st-1"},
	{"/v1/stations/{id}/export", "/v1/stations/st-1/export?type=pm25", "st-1"},
	{"/v1/stations/{id}/alerts", "/v1/stations/st-1/alerts", "st-1"},
	{"/v1/measurements", "/v1/measurements?station=st-1&type=pm25&days=3", "st-1"},
	{"/v1/vehicles", "/v1/vehicles", ""},
	{"/v1/vehicles/{id}", "/v1/vehicles/veh-1", "veh-1"},
	{"/v1/vehicles/{id}/events", "/v1/vehicles/veh-1/events", "veh-1"},
	{"/v1/vehicles/{id}/events/{eid}", "/v1/vehicles/veh-1/events/e-1", "veh-1"},
	{"/v1/vehicles/{id}/readings/daily", "/v1/vehicles/veh-1/readings/daily?name=speed_kmh", "veh-1"},
	{"/v1/vehicles/{id}/history", "/v1/vehicles/veh-1/history", "veh-1"},
	{"/v1/alerts", "/v1/alerts", ""},
	{"/v1/devices/{id}/status", "/v1/devices/st-1/status", "st-1"},
	{"/metrics", "/metrics", ""},
	{"/v1/feed", "/v1/feed", ""},
}

// filteringRoutes are the fleet-wide routes that filter what a scoped key
// reads instead of refusing it: a key of any scope gets a 200 (feed_test.go
// checks what it sees).
var filteringRoutes = map[string]bool{"/v1/feed": true}

const testAdminToken = "read-test-admin-token"

// testKeys are the read keys seedKeys stores, by what they are.
type testKeys struct {
	fleet, scoped, otherDevices, revoked, wrongSecret, unknownID string
	doomed                                                       string // for a test to revoke
}

// seedKeys stores read keys as the projector does: a fleet-wide one, one
// scoped to st-1 and veh-1, one scoped to st-2 only, and a revoked one.
func seedKeys(t testing.TB, pool *pgxpool.Pool) testKeys {
	t.Helper()
	var k testKeys
	add := func(id string, devices []string, revoked bool) string {
		key, hash := domain.NewReadKey(id)
		var revokedAt *time.Time
		if revoked {
			revokedAt = &specNow
		}
		if _, err := pool.Exec(context.Background(), `INSERT INTO rm_read_keys (key_id, name, devices, key_hash, created_at, revoked_at) VALUES ($1, $1, $2, $3, $4, $5)`,
			id, devices, hash, specNow, revokedAt); err != nil {
			t.Fatal(err)
		}
		return key
	}
	k.fleet = add("k-fleet", nil, false)
	k.scoped = add("k-scoped", []string{"st-1", "veh-1"}, false)
	k.otherDevices = add("k-other", []string{"st-2"}, false)
	k.revoked = add("k-revoked", nil, true)
	k.doomed = add("k-doomed", nil, false)
	forged, _ := domain.NewReadKey("k-fleet") // the right id, another secret
	k.wrongSecret = forged
	k.unknownID, _ = domain.NewReadKey("k-none")
	return k
}

func newAuthServer(t *testing.T, pool *pgxpool.Pool, auth readapi.AuthConfig) (*httptest.Server, http.Handler) {
	t.Helper()
	log := eventstore.New(pool, eventstore.Config{})
	t.Cleanup(log.Close)
	h := readapi.NewHandler(mustQueries(t, pool), readapi.Config{RequestTimeout: 10 * time.Second, Auth: auth, Feed: log},
		func() time.Time { return specNow }, httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h
}

// allowedStatus is what route answers a caller who may read it: 200, but
// 503 from the live routes, whose push is off in a handler without a
// commit listener (live_test.go streams them) — past the key check all the same.
func allowedStatus(path string) int {
	if strings.HasSuffix(path, "/live") {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// onlyLiveRoutesTakeTheKeyAsAccessToken: a browser's EventSource sends no
// headers, so live routes take the key as ?access_token=; every other
// route refuses a key there (it would end up in logs and caches), and a
// live route still refuses a wrong or another device's key.
func onlyLiveRoutesTakeTheKeyAsAccessToken(t *testing.T, pool *pgxpool.Pool, keys testKeys) {
	srv, _ := newAuthServer(t, pool, readapi.AuthConfig{AdminToken: testAdminToken})
	withToken := func(path, key string) string {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		return path + sep + "access_token=" + key
	}
	for _, route := range readRoutes {
		want := 401
		if strings.HasSuffix(route.path, "/live") {
			want = allowedStatus(route.path)
			if status, _, _ := get(t, srv.URL, withToken(route.path, "not-a-key"), ""); status != 401 {
				t.Errorf("GET %s with a wrong access_token: %d, want 401", route.path, status)
			}
			if status, _, _ := get(t, srv.URL, withToken(route.path, keys.otherDevices), ""); status != 403 {
				t.Errorf("GET %s with another device's key as access_token: %d, want 403", route.path, status)
			}
		}
		if status, _, _ := get(t, srv.URL, withToken(route.path, keys.fleet), ""); status != want {
			t.Errorf("GET %s with a fleet-wide key as access_token: %d, want %d", route.path, status, want)
		}
	}
}

// get sends GET path with the Authorization header (none when ""), and
// returns the status and the error code of an error body.
func get(t *testing.T, base, path, authorization string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(raw, &body); err != nil || body.Error.Message == "" {
			t.Errorf("GET %s: %d answer is not the error shape: %s", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, body.Error.Code, resp.Header
}

// TestAuth checks who may read, over one database of read models and keys.
func TestAuth(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDatabase(t)
	seedReadModels(t, pool)
	keys := seedKeys(t, pool)
	t.Run("EveryRouteRefusesMissingWrongRevokedAndOtherDevicesKeys", func(t *testing.T) {
		everyRouteRefusesMissingWrongRevokedAndOtherDevicesKeys(t, pool, keys)
	})
	t.Run("PublicRoutesAndOpenAccess", func(t *testing.T) { publicRoutesAndOpenAccess(t, pool) })
	t.Run("OnlyLiveRoutesTakeTheKeyAsAccessToken", func(t *testing.T) { onlyLiveRoutesTakeTheKeyAsAccessToken(t, pool, keys) })
	t.Run("ARevokedKeyIsRefusedWithinTheCacheTime", func(t *testing.T) { aRevokedKeyIsRefusedWithinTheCacheTime(t, pool, keys.doomed) })
}

// everyRouteRefusesMissingWrongRevokedAndOtherDevicesKeys sends
// every read route every kind of credential: missing, another scheme,
// malformed, a key with a forged secret, of no key, revoked (401 with
// WWW-Authenticate), scoped to other devices (403); a fleet-wide key and
// the admin token read; a key scoped to the route's device reads it, and
// fleet-wide routes refuse it (403).
func everyRouteRefusesMissingWrongRevokedAndOtherDevicesKeys(t *testing.T, pool *pgxpool.Pool, keys testKeys) {
	srv, _ := newAuthServer(t, pool, readapi.AuthConfig{AdminToken: testAdminToken})

	bearer := func(k string) string { return "Bearer " + k }
	for _, route := range readRoutes {
		ok := allowedStatus(route.path)
		scopedWant, otherWant := ok, 403
		if route.device == "" {
			scopedWant = 403
		}
		if filteringRoutes[route.template] {
			scopedWant, otherWant = 200, 200
		}
		for _, c := range []struct {
			name, authorization string
			want                int
		}{
			{"no header", "", 401},
			{"another scheme", "Basic " + keys.fleet, 401},
			{"empty bearer", "Bearer ", 401},
			{"not a key", bearer("not-a-key"), 401},
			{"a device token", bearer("st-1." + strings.Repeat("a", 43)), 401},
			{"a forged secret", bearer(keys.wrongSecret), 401},
			{"a key of no id", bearer(keys.unknownID), 401},
			{"a revoked key", bearer(keys.revoked), 401},
			{"a key of other devices", bearer(keys.otherDevices), otherWant},
			{"a fleet-wide key", bearer(keys.fleet), ok},
			{"the scheme in lower case", "bearer " + keys.fleet, ok},
			{"the admin token", bearer(testAdminToken), ok},
			{"a key scoped to the route's device", bearer(keys.scoped), scopedWant},
		} {
			t.Run(route.template+"/"+c.name, func(t *testing.T) {
				status, code, header := get(t, srv.URL, route.path, c.authorization)
				if status != c.want {
					t.Fatalf("GET %s with %s: %d %s, want %d", route.path, c.name, status, code, c.want)
				}
				switch c.want {
				case 401:
					if code != domain.CodeUnauthorized || header.Get("WWW-Authenticate") != `Bearer realm="fleetpulse"` {
						t.Fatalf("401: code %q, WWW-Authenticate %q", code, header.Get("WWW-Authenticate"))
					}
				case 403:
					if code != domain.CodeForbidden {
						t.Fatalf("403: code %q, want %q", code, domain.CodeForbidden)
					}
				}
			})
		}
	}

	// A scoped key on the dashboard query of another station, and on a
	// device route of a device outside its scope.
	for _, path := range []string{"/v1/measurements?station=st-2&type=pm25", "/v1/stations/st-2", "/v1/vehicles/veh-2/events", "/v1/measurements?type=pm25"} {
		if status, _, _ := get(t, srv.URL, path, bearer(keys.scoped)); status != 403 {
			t.Errorf("GET %s with a key scoped to st-1 and veh-1: %d, want 403", path, status)
		}
	}
}

// TestAuth_EveryRouteIsListed walks the router: a route is either public
// or in readRoutes, so a route added later is tested above or fails here.
func TestAuth_EveryRouteIsListed(t *testing.T) {
	t.Parallel()
	h := readapi.NewHandler(nil, readapi.Config{}, time.Now, httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	listed := map[string]bool{}
	for _, r := range readRoutes {
		listed[r.template] = true
	}
	err := h.(*mux.Router).Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil
		}
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		if !listed[tpl] && !slices.Contains(readapi.PublicRoutes, tpl) {
			t.Errorf("route %s is neither public nor in readRoutes: add it to readRoutes", tpl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// publicRoutesAndOpenAccess: health, the dashboard's files and
// the API's description answer without a key; FLEETPULSE_READ_AUTH=off
// (Open) lets every route answer without one.
func publicRoutesAndOpenAccess(t *testing.T, pool *pgxpool.Pool) {
	closed, _ := newAuthServer(t, pool, readapi.AuthConfig{})
	for _, path := range []string{"/healthz", "/readyz", "/", "/dashboard/", "/openapi.json", "/docs"} {
		if status, _, _ := get(t, closed.URL, path, ""); status != 200 {
			t.Errorf("GET %s without a key: %d, want 200", path, status)
		}
	}
	open, _ := newAuthServer(t, pool, readapi.AuthConfig{Open: true})
	for _, route := range readRoutes {
		if status, _, _ := get(t, open.URL, route.path, ""); status != allowedStatus(route.path) {
			t.Errorf("open access: GET %s without a key: %d, want %d", route.path, status, allowedStatus(route.path))
		}
	}
}

// aRevokedKeyIsRefusedWithinTheCacheTime: a key the read API has
// seen valid is believed for KeyCacheTTL; once its revocation is in the
// read models it is refused no later than that.
func aRevokedKeyIsRefusedWithinTheCacheTime(t *testing.T, pool *pgxpool.Pool, key string) {
	const ttl = 100 * time.Millisecond
	srv, _ := newAuthServer(t, pool, readapi.AuthConfig{KeyCacheTTL: ttl})
	if status, _, _ := get(t, srv.URL, "/v1/stations", "Bearer "+key); status != 200 {
		t.Fatalf("before revocation: %d, want 200", status)
	}
	if _, err := pool.Exec(context.Background(), `UPDATE rm_read_keys SET revoked_at = now() WHERE key_id = 'k-doomed'`); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		status, _, _ := get(t, srv.URL, "/v1/stations", "Bearer "+key)
		if status == 401 {
			break
		}
		if status != 200 {
			t.Fatalf("while cached: %d, want 200 or 401", status)
		}
		if waited := time.Since(revoked); waited > ttl+50*time.Millisecond {
			t.Fatalf("the revoked key still reads %s after its revocation; the bound is %s", waited, ttl)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzBearerToken drives the Authorization header parser: it never
// panics, and a token it accepts is non-empty, has no spaces or control
// characters, and is what follows the scheme.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"", "Bearer ", "Bearer x", "bearer  fpr_k.abc", "Basic dXNlcjpwYXNz", "Bearer a b", "Bearer \x00", "BEARER tok\x7f", "Bearer " + strings.Repeat("a", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, ok := readapi.BearerToken(header)
		if !ok {
			if token != "" {
				t.Fatalf("refused %q but returned %q", header, token)
			}
			return
		}
		if token == "" || strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			t.Fatalf("accepted %q as token %q", header, token)
		}
		if !strings.HasSuffix(header, " "+token) || !strings.EqualFold(header[:6], "Bearer") {
			t.Fatalf("token %q is not what follows the scheme in %q", token, header)
		}
	})
}

// BenchmarkAuth measures what authentication adds to a request: each
// request goes through every middleware and is answered 404 before any
// SQL (an id PostgreSQL text cannot hold), so the differences between the
// cases are the authentication's own cost; keys are served from the cache.
func BenchmarkAuth(b *testing.B) {
	pool, _ := pgtest.NewDatabase(b)
	keys := seedKeys(b, pool)
	for _, c := range []struct {
		name, authorization string
		auth                readapi.AuthConfig
	}{
		{"open", "", readapi.AuthConfig{Open: true}},
		{"admin-token", "Bearer " + testAdminToken, readapi.AuthConfig{AdminToken: testAdminToken}},
		{"fleet-key", "Bearer " + keys.fleet, readapi.AuthConfig{AdminToken: testAdminToken}},
		{"scoped-key", "Bearer " + keys.scoped, readapi.AuthConfig{AdminToken: testAdminToken}},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := readapi.NewHandler(mustQueries(b, pool), readapi.Config{RequestTimeout: 10 * time.Second, Auth: c.auth},
				time.Now, httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			req := httptest.NewRequest(http.MethodGet, "/v1/stations/st-1%00/latest", nil)
			if c.authorization != "" {
				req.Header.Set("Authorization", c.authorization)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNotFound && rec.Code != http.StatusForbidden {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// FuzzReadAPIAuthorization sends arbitrary Authorization headers to a real
// read API with authentication on: the answer is a 200 only for a key the
// read models hold (or the admin token), a 401 with WWW-Authenticate and
// the error body otherwise (a 403 for the scoped key), never a 5xx.
func FuzzReadAPIAuthorization(f *testing.F) {
	pool, _ := pgtest.NewDatabase(f)
	seedReadModels(f, pool)
	keys := seedKeys(f, pool)
	for _, s := range []string{"", "Bearer " + keys.fleet, "Bearer " + keys.scoped, "Bearer " + keys.revoked, "Bearer " + keys.wrongSecret,
		"Bearer " + testAdminToken, "bearer " + keys.fleet + " ", "Bearer fpr_k'--." + strings.Repeat("A", 43), "Bearer fpr_" + strings.Repeat("k", 64) + "." + strings.Repeat("-", 43),
		"Basic " + keys.fleet, "Bearer \x00", "Bearer fpr_k-fleet.\xff"} {
		f.Add(s)
	}
	h := readapi.NewHandler(mustQueries(f, pool), readapi.Config{RequestTimeout: 10 * time.Second, Auth: readapi.AuthConfig{AdminToken: testAdminToken}},
		func() time.Time { return specNow }, httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	valid := map[string]int{keys.fleet: 200, testAdminToken: 200, keys.scoped: 403}
	f.Fuzz(func(t *testing.T, authorization string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/stations", nil)
		req.Header["Authorization"] = []string{authorization} // as sent, unchecked by a client
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := 401
		if token, ok := readapi.BearerToken(authorization); ok {
			if s, known := valid[token]; known {
				want = s
			}
		}
		if rec.Code != want {
			t.Fatalf("Authorization %q: %d %s, want %d", authorization, rec.Code, rec.Body, want)
		}
		if want == 401 && (rec.Header().Get("WWW-Authenticate") == "" || !json.Valid(rec.Body.Bytes())) {
			t.Fatalf("Authorization %q: 401 without WWW-Authenticate or a JSON body: %q", authorization, rec.Body)
		}
	})
}
