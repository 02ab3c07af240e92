package commandapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/bus"
	"github.com/fleetpulse/fleetpulse/infra/commandapi"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

func init() {
	// Pages are validated as strings (status, content type, non-JSON body).
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
}

const specAdmin = "spec-admin-token"

// TestOpenAPI_DocumentMatchesRoutesAndRealAnswers checks the command API's
// OpenAPI document three ways: it is a valid OpenAPI 3 document; it names
// exactly the routes the router serves; and real answers (through the real
// bus and PostgreSQL event store) to a whole device lifecycle, errors
// included, match the documented statuses, headers and schemas. Requests
// the API accepts must satisfy the documented request schemas too.
func TestOpenAPI_DocumentMatchesRoutesAndRealAnswers(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }
	app := commands.NewApplication(postgres.NewEventStore(pool), clock, domain.DefaultTelemetryPolicy)
	b, err := bus.NewInProcess(app, logger, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	h := commandapi.NewHandler(b, commandapi.Config{AdminToken: specAdmin, MaxBodyBytes: 16 << 10, RequestTimeout: 10 * time.Second},
		httpx.NewRegistry(), logger, httpx.Pinger(pool.Ping))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	c := newSpecChecker(t, srv.URL)
	c.checkRoutes(h)
	const m1 = `{"measurements": [{"id": "m-1", "type": "pm25", "value": 12.5, "measured_at": "2026-06-01T11:00:00Z"},
		{"type": "temperature", "value": -3, "measured_at": "2026-06-01T11:00:00Z"}]}`

	// Stations.
	st := c.do("POST", "/v1/stations", specAdmin, `{"id": "krk-1", "name": "Kraków", "location": {"lat": 50.06, "lon": 19.94}, "timezone": "Europe/Warsaw"}`, 201)
	stToken, _ := st["token"].(string)
	c.do("POST", "/v1/stations", specAdmin, `{"name": "Anonymous", "location": {"lat": 0, "lon": 0}}`, 201)
	c.do("POST", "/v1/stations", specAdmin, `{"id": "krk-1", "name": "again", "location": {"lat": 1, "lon": 1}}`, 409)
	c.do("POST", "/v1/stations", "", `{"id": "x", "name": "n", "location": {"lat": 1, "lon": 1}}`, 401)
	c.do("POST", "/v1/stations", stToken, `{"id": "x", "name": "n", "location": {"lat": 1, "lon": 1}}`, 403)
	c.do("POST", "/v1/stations", specAdmin, `{"id": "x", "name": "n"}`, 400)
	c.do("POST", "/v1/stations", specAdmin, `{"id": "x", "name": "n", "location": {"lat": 1, "lon": 1}, "extra": 1}`, 400)
	c.do("POST", "/v1/stations", specAdmin, `{"name": "`+strings.Repeat("x", 20<<10)+`"}`, 413)
	c.do("PUT", "/v1/stations/krk-1", specAdmin, `{"name": "Kraków Centrum", "location": {"lat": 50.06, "lon": 19.94}}`, 200, "If-Match", `"0"`)
	c.do("PUT", "/v1/stations/krk-1", specAdmin, `{"name": "stale", "location": {"lat": 50.06, "lon": 19.94}}`, 409, "If-Match", `"0"`)
	c.do("PUT", "/v1/stations/nope", specAdmin, `{"name": "n", "location": {"lat": 1, "lon": 1}}`, 404)
	c.do("PUT", "/v1/stations/krk-1", specAdmin, `{"name": "n", "location": {"lat": 1, "lon": 1}}`, 400, "If-Match", "soon")
	c.do("DELETE", "/v1/stations/krk-1/token", stToken, "", 403)
	c.do("DELETE", "/v1/stations/krk-1/token", specAdmin, "", 200)
	c.do("DELETE", "/v1/stations/krk-1/token", stToken, "", 401) // revoked
	rot := c.do("POST", "/v1/stations/krk-1/token", specAdmin, "", 200)
	stToken, _ = rot["token"].(string)
	c.do("POST", "/v1/stations/nope/token", specAdmin, "", 404)
	c.do("POST", "/v1/stations/krk-1/measurements", stToken, m1, 201)
	if r := c.do("POST", "/v1/stations/krk-1/measurements", stToken, `{"measurements": [{"id": "m-1", "type": "pm25", "value": 12.5, "measured_at": "2026-06-01T11:00:00Z"}]}`, 201); r["duplicates"] != 1.0 {
		t.Errorf("a repeated id should be a duplicate: %v", r)
	}
	if r := c.do("POST", "/v1/stations/krk-1/measurements", stToken, `{"measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}, {"type": "PM25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`, 400); r != nil {
		if e, _ := r["error"].(map[string]any); e["index"] != 1.0 || e["field"] != "type" {
			t.Errorf("a bad item should be named: %v", r)
		}
	}
	c.do("POST", "/v1/stations/krk-1/measurements", stToken, `{"measurements": []}`, 400)
	c.do("POST", "/v1/stations/krk-1/measurements", "krk-1.wrong", m1, 401)
	c.do("POST", "/v1/stations/nope/measurements", specAdmin, m1, 404)
	c.do("POST", "/v1/stations/krk-1/measurements/m-1/correction", specAdmin, `{"value": 11.5, "reason": "recalibrated", "actor": "ops@example.com"}`, 201)
	c.do("POST", "/v1/stations/krk-1/measurements/m-1/correction", specAdmin, `{"reason": "no value", "actor": "ops"}`, 400)
	c.do("POST", "/v1/stations/krk-1/measurements/never/correction", specAdmin, `{"value": 1, "reason": "r", "actor": "a"}`, 404)
	c.do("POST", "/v1/stations/krk-1/measurements/m-1/correction", stToken, `{"value": 1, "reason": "r", "actor": "a"}`, 403)
	c.do("POST", "/v1/stations/krk-1/measurements/m-1/retraction", specAdmin, `{"reason": "sensor fault", "actor": "ops@example.com"}`, 201)
	c.do("POST", "/v1/stations/krk-1/measurements/m-1/retraction", specAdmin, `{"reason": "", "actor": "ops"}`, 400)
	c.do("POST", "/v1/stations/krk-1/alert-rules", specAdmin, `{"rule": "pm25-high", "type": "pm25", "above": 35, "for": "10m"}`, 201)
	c.do("POST", "/v1/stations/krk-1/alert-rules", specAdmin, `{"rule": "pm25-high", "type": "pm25", "above": 35, "for": "ten minutes"}`, 400)
	c.do("POST", "/v1/stations/krk-1/alert-rules", stToken, `{"rule": "pm25-high", "type": "pm25", "above": 35}`, 403)
	c.do("POST", "/v1/stations/nope/alert-rules", specAdmin, `{"rule": "pm25-high", "type": "pm25", "above": 35}`, 404)
	c.do("DELETE", "/v1/stations/krk-1", specAdmin, "", 200)
	c.do("DELETE", "/v1/stations/nope", specAdmin, "", 404)
	c.do("POST", "/v1/stations/krk-1/measurements", stToken, m1, 409)

	// Vehicles.
	v := c.do("POST", "/v1/vehicles", specAdmin, `{"vid": "van-7", "name": "Van 7", "vin": "1HGCM82633A004352", "plate": "KR 777", "model": "e-Transit", "timezone": "UTC"}`, 201)
	vToken, _ := v["token"].(string)
	c.do("POST", "/v1/vehicles", specAdmin, `{"name": "Anonymous van"}`, 201)
	c.do("POST", "/v1/vehicles", specAdmin, `{"vid": "van-7", "name": "again"}`, 409)
	c.do("POST", "/v1/vehicles", specAdmin, `{"vid": "van-8", "name": "n", "vin": "short"}`, 400)
	c.do("PUT", "/v1/vehicles/van-7", specAdmin, `{"name": "Van 7b", "plate": "KR 778"}`, 200, "If-Match", "0")
	c.do("PUT", "/v1/vehicles/van-7", specAdmin, `{"name": "stale"}`, 409, "If-Match", "0")
	c.do("PUT", "/v1/vehicles/van-7", vToken, `{"name": "self-service"}`, 403)
	c.do("DELETE", "/v1/vehicles/nope/token", specAdmin, "", 404)
	c.do("DELETE", "/v1/vehicles/van-7/token", specAdmin, "", 200)
	rot = c.do("POST", "/v1/vehicles/van-7/token", specAdmin, "", 200)
	vToken, _ = rot["token"].(string)
	c.do("POST", "/v1/vehicles/nope/token", specAdmin, "", 404)
	ev := c.do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [
		{"eid": "e-1", "type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 50, "battery_pct": 80}, "location": {"lat": 52.2, "lon": 21}},
		{"type": "door_opened", "occurred_at": "2026-06-01T11:00:01Z", "data": {"door": "rear"}}]}`, 201)
	if eids, _ := ev["eids"].([]any); len(eids) != 2 {
		t.Errorf("eids: %v", ev)
	}
	c.do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "location": {"lat": 91, "lon": 0}}]}`, 400)
	c.do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-02T11:00:00Z"}]}`, 400)
	c.do("POST", "/v1/vehicles/van-7/events", stToken, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z"}]}`, 403)
	c.do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [`, 400)
	c.do("DELETE", "/v1/vehicles/van-7", specAdmin, "", 200, "If-Match", `"3"`) // registered 0, updated 1, token revoked 2, rotated 3
	c.do("DELETE", "/v1/vehicles/nope", specAdmin, "", 404)
	c.do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z"}]}`, 409)

	// Operations and pages.
	c.do("GET", "/healthz", "", "", 200)
	c.do("GET", "/readyz", "", "", 200)
	c.do("GET", "/metrics", "", "", 200)
	c.do("GET", "/openapi.json", "", "", 200)
	c.do("GET", "/docs", "", "", 200)

	c.checkEveryOperationAnswered()
}

// --- checking answers against the document ---------------------------------------

type specChecker struct {
	t        *testing.T
	base     string
	doc      *openapi3.T
	router   routers.Router
	answered map[string]bool // "METHOD /path" of documented operations answered with a 2xx
}

func newSpecChecker(t *testing.T, base string) *specChecker {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specChecker{t: t, base: base, doc: doc, router: router, answered: map[string]bool{}}
}

var specPathParam = regexp.MustCompile(`\{[^}]*\}`)

// checkRoutes compares the router's routes with the document's operations,
// both ways; path parameter names may differ ({id} in code, {vid} in docs).
func (c *specChecker) checkRoutes(h http.Handler) {
	c.t.Helper()
	r, ok := h.(*mux.Router)
	if !ok {
		c.t.Fatalf("NewHandler returned %T, not a *mux.Router", h)
	}
	served := map[string]bool{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's own route: its children are walked
		}
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			c.t.Errorf("route %s answers every method; give it Methods()", tpl)
			return nil
		}
		for _, m := range methods {
			if m != http.MethodHead { // HEAD goes with GET
				served[m+" "+specPathParam.ReplaceAllString(tpl, "{}")] = true
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range c.doc.Paths.Map() {
		for m := range item.Operations() {
			documented[m+" "+specPathParam.ReplaceAllString(path, "{}")] = true
		}
	}
	for _, k := range specSortedKeys(served) {
		if !documented[k] {
			c.t.Errorf("route %s is served but not in openapi.json", k)
		}
	}
	for _, k := range specSortedKeys(documented) {
		if !served[k] {
			c.t.Errorf("openapi.json documents %s, which no route serves", k)
		}
	}
}

// do sends a request, wants the status, validates the answer (and, for a
// success, the request too) against the document, and returns a JSON body.
func (c *specChecker) do(method, path, token, body string, want int, headers ...string) map[string]any {
	c.t.Helper()
	ctx := context.Background()
	newReq := func() *http.Request {
		req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
		if err != nil {
			c.t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		return req
	}
	vreq := newReq() // the validator reads the body; the server gets its own copy
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		c.t.Errorf("%s %s: no operation in openapi.json: %v", method, path, err)
		return nil
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if want < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			c.t.Errorf("%s %s: the document refuses a request the API accepts: %v", method, path, err)
		}
	}
	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		c.t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		c.t.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s %s: the answer (%d) does not match openapi.json: %v\nbody: %.500s", method, path, resp.StatusCode, err, raw)
	}
	if resp.StatusCode < 300 {
		c.answered[route.Method+" "+route.Path] = true
	}
	var v map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &v); err != nil {
			c.t.Errorf("%s %s: body is not a JSON object: %v", method, path, err)
		}
	}
	return v
}

// checkEveryOperationAnswered makes sure no documented operation went
// untested: each had a real successful answer checked against its schema.
func (c *specChecker) checkEveryOperationAnswered() {
	c.t.Helper()
	for path, item := range c.doc.Paths.Map() {
		for m := range item.Operations() {
			if !c.answered[m+" "+path] {
				c.t.Errorf("no successful answer of %s %s was checked", m, path)
			}
		}
	}
}

func specSortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
