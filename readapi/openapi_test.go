package readapi_test

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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/readapi"
)

func init() {
	// Pages are validated as strings (status, content type, non-JSON body).
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
	// Exports stream rows: checked as strings here, row by row in analytics_test.go.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.FileBodyDecoder)
}

var specNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// TestOpenAPI_DocumentMatchesRoutesAndRealAnswers checks the read API's
// OpenAPI document three ways: it is a valid OpenAPI 3 document; it names
// exactly the routes the router serves; and real answers over real read-model
// rows (one request or more per operation, errors included) match the
// documented statuses and schemas.
func TestOpenAPI_DocumentMatchesRoutesAndRealAnswers(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	seedReadModels(t, pool)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := readapi.NewHandler(pool, readapi.Config{RequestTimeout: 10 * time.Second}, func() time.Time { return specNow },
		httpx.NewRegistry(), logger)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	c := newSpecChecker(t, srv.URL)
	c.checkRoutes(h)

	// Stations.
	c.get("/v1/stations", 200)
	page := c.get("/v1/stations?limit=1", 200)
	if page["next"] != "st-1" {
		t.Errorf("a full page should name the next cursor: %v", page)
	}
	c.get("/v1/stations?limit=1&after=st-1", 200)
	c.get("/v1/stations?limit=0", 400)
	st := c.get("/v1/stations/st-1", 200)
	if st["timezone"] != "Europe/Warsaw" || st["location"] == nil {
		t.Errorf("station st-1 = %v", st)
	}
	c.get("/v1/stations/st-2", 200) // no location
	c.get("/v1/stations/nope", 404)
	c.get("/v1/stations/veh-1", 404) // a vehicle is not a station
	pts := c.get("/v1/stations/st-1/measurements?type=pm25", 200)
	if n := len(pts["points"].([]any)); n != 24 {
		t.Errorf("last 24 hours of hourly points: got %d points", n)
	}
	c.get("/v1/stations/st-1/measurements?type=pm25&from=2026-05-28T00:00:00Z&to=2026-05-29T00:00:00Z", 200)
	if tr := c.get("/v1/stations/st-1/measurements?type=pm25&limit=2", 200); tr["truncated"] != true {
		t.Errorf("limit=2 of 24 points should be truncated: %v", tr)
	}
	c.get("/v1/stations/st-1/measurements?type=unknown", 200) // empty
	c.get("/v1/stations/st-1/measurements", 400)              // type missing
	c.get("/v1/stations/st-1/measurements?type=PM25", 400)
	c.get("/v1/stations/st-1/measurements?type=pm25&from=yesterday", 400)
	c.get("/v1/stations/nope/measurements?type=pm25", 404)
	days := c.get("/v1/stations/st-1/measurements/daily?type=pm25", 200)
	if n := len(days["days"].([]any)); n != 30 {
		t.Errorf("daily rows: got %d, want 30", n)
	}
	c.get("/v1/stations/st-1/measurements/daily?type=pm25&from=2026-05-01&to=2026-05-31", 200)
	c.get("/v1/stations/st-1/measurements/daily?type=pm25&from=2026-13-01", 400)
	c.get("/v1/stations/nope/measurements/daily?type=pm25", 404)
	c.get("/v1/stations/st-1/measurements/daily?type=pm25&as_of=2026-05-30T00:00:00Z", 200)
	c.get("/v1/stations/st-1/measurements/daily?type=pm25&as_of=never", 400)
	c.get("/v1/stations/st-1/latest", 200)
	c.get("/v1/stations/st-2/latest", 200) // none yet
	c.get("/v1/stations/nope/latest", 404)

	// The dashboard query.
	raw := c.get("/v1/measurements?station=st-1&type=pm25&days=3", 200)
	if raw["resolution"] != "raw" || len(raw["points"].([]any)) != 72 {
		t.Errorf("days=3: resolution %v, %d points", raw["resolution"], len(raw["points"].([]any)))
	}
	c.get("/v1/measurements?station=st-1&type=temperature", 200)
	daily := c.get("/v1/measurements?station=st-1&type=pm25&days=365", 200)
	if daily["resolution"] != "daily" || len(daily["days"].([]any)) != 30 {
		t.Errorf("days=365: resolution %v, %d days", daily["resolution"], len(daily["days"].([]any)))
	}
	c.get("/v1/measurements?station=st-1&type=pm25&days=0", 400)
	c.get("/v1/measurements?type=pm25", 400)
	c.get("/v1/measurements?station=nope&type=pm25", 404)

	// Vehicles.
	c.get("/v1/vehicles", 200)
	c.get("/v1/vehicles?limit=1", 200)
	v := c.get("/v1/vehicles/veh-1", 200)
	if latest, _ := v["latest"].([]any); len(latest) != 2 {
		t.Errorf("vehicle latest readings: %v", v["latest"])
	}
	c.get("/v1/vehicles/veh-2", 200) // no readings: no latest
	c.get("/v1/vehicles/st-1", 404)
	evs := c.get("/v1/vehicles/veh-1/events?limit=2", 200)
	next, _ := evs["next"].(string)
	if next == "" {
		t.Fatalf("a full page of events should carry a cursor: %v", evs)
	}
	c.get("/v1/vehicles/veh-1/events?limit=2&cursor="+next, 200)
	c.get("/v1/vehicles/veh-1/events?type=door_opened", 200)
	c.get("/v1/vehicles/veh-1/events?from=2026-05-31T00:00:00Z&to=2026-06-02T00:00:00Z", 200)
	c.get("/v1/vehicles/veh-1/events?cursor=%25%25", 400)
	c.get("/v1/vehicles/veh-1/events?limit=5000", 400)
	c.get("/v1/vehicles/nope/events", 404)
	c.get("/v1/vehicles/veh-1/events/e-1", 200)
	c.get("/v1/vehicles/veh-1/events/e-2", 200)
	c.get("/v1/vehicles/veh-1/events/missing", 404)
	c.get("/v1/vehicles/veh-1/readings/daily?name=speed_kmh", 200)
	c.get("/v1/vehicles/veh-1/readings/daily", 400)
	c.get("/v1/vehicles/nope/readings/daily?name=speed_kmh", 404)

	// Hourly aggregates, audit trails and exports.
	c.get("/v1/stations/st-1/measurements/hourly?type=pm25", 200)
	c.get("/v1/stations/st-1/measurements/buckets/q15?type=pm25", 200)
	c.get("/v1/stations/st-1/measurements/buckets/nope?type=pm25", 404)
	c.get("/v1/stations/st-1/measurements/hourly?type=pm25&from=2026-05-01T00:00:00Z&to=2026-05-01T00:00:00Z", 400)
	c.get("/v1/stations/nope/measurements/hourly?type=pm25", 404)
	hist := c.get("/v1/stations/st-1/history?limit=1", 200)
	if next, _ := hist["next"].(string); next == "" {
		t.Error("a full history page has no next cursor")
	} else {
		c.get("/v1/stations/st-1/history?limit=1&cursor="+next, 200)
	}
	c.get("/v1/stations/st-1/history?cursor=x", 400)
	c.get("/v1/vehicles/veh-1/history", 200)
	c.get("/v1/vehicles/st-1/history", 404)
	c.get("/v1/stations/st-1/export?type=pm25", 200)
	c.get("/v1/stations/st-1/export?type=pm25&format=ndjson&resolution=daily", 200)
	c.get("/v1/stations/st-1/export?type=pm25&resolution=hourly", 200)
	c.get("/v1/stations/st-1/export?type=pm25&format=xml", 400)

	// Alerts and device status.
	active := c.get("/v1/alerts?active=true", 200)
	if list := active["alerts"].([]any); len(list) != 1 || list[0].(map[string]any)["rule"] != "pm25-high" {
		t.Errorf("active alerts = %v", active)
	}
	if all := c.get("/v1/alerts?limit=10", 200); len(all["alerts"].([]any)) != 2 {
		t.Errorf("all alerts = %v", all)
	}
	c.get("/v1/alerts?active=yes", 400)
	c.get("/v1/stations/st-1/alerts?active=false", 200)
	c.get("/v1/stations/nope/alerts", 404)
	if st := c.get("/v1/devices/st-1/status", 200); st["online"] != false || st["since"] == nil {
		t.Errorf("st-1 is silent: %v", st)
	}
	if st := c.get("/v1/devices/veh-1/status", 200); st["online"] != true || st["last_measured_at"] == nil {
		t.Errorf("veh-1 sends data: %v", st)
	}
	c.get("/v1/devices/st-2/status", 200) // never sent data
	c.get("/v1/devices/nope/status", 404)

	// Operations and pages.
	c.get("/healthz", 200)
	c.get("/readyz", 200)
	c.get("/metrics", 200)
	c.get("/openapi.json", 200)
	c.get("/docs", 200)
	c.get("/", 200)
	c.get("/dashboard/", 200)
	c.checkEveryOperationAnswered()

	// Files under the /dashboard/ prefix route, beyond its documented page.
	resp, err := http.Get(srv.URL + "/dashboard/no-such-file.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("missing dashboard file: %d %s, want 404 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// seedReadModels writes read-model rows as projectors would: two stations
// (one without a location), two vehicles (one without readings), five days
// of hourly points, 30 daily rows, latest values and vehicle events.
func seedReadModels(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{
		`INSERT INTO rm_devices (device_id, kind, name, lat, lon, timezone, vin, plate, model, version, decommissioned, registered_at, updated_at) VALUES
			('st-1', 'station', 'Kraków', 50.06, 19.94, 'Europe/Warsaw', '', '', '', 2, false, $1::timestamptz - interval '40 days', $1::timestamptz - interval '1 day'),
			('st-2', 'station', 'Nowhere yet', NULL, NULL, '', '', '', '', 0, false, $1::timestamptz - interval '2 days', $1::timestamptz - interval '2 days'),
			('veh-1', 'vehicle', 'Van 1', NULL, NULL, 'UTC', '1HGCM82633A004352', 'KR 12345', 'e-Transit', 1, false, $1::timestamptz - interval '40 days', $1::timestamptz - interval '40 days'),
			('veh-2', 'vehicle', 'Van 2', NULL, NULL, '', '', '', '', 3, true, $1::timestamptz - interval '3 days', $1::timestamptz - interval '1 day')`,
		`INSERT INTO rm_measurements (device_id, type, measured_at, value, measurement_id)
			SELECT 'st-1', t, $1::timestamptz - make_interval(hours => h), 10 + h % 7 + 0.25, t || '-' || h
			FROM generate_series(1, 120) AS h, unnest(ARRAY['pm25', 'temperature']) AS t`,
		`INSERT INTO rm_daily (device_id, name, day, count, sum, min, max)
			SELECT 'st-1', 'pm25', $1::date - d, 24, 24 * 12.5, 8, 17.5 FROM generate_series(0, 29) AS d
			UNION ALL
			SELECT 'veh-1', 'speed_kmh', $1::date - d, 10, 450, 0, 90 FROM generate_series(0, 4) AS d`,
		`INSERT INTO rm_latest (device_id, name, value, measured_at) VALUES
			('st-1', 'pm25', 13.25, $1::timestamptz - interval '1 hour'),
			('st-1', 'temperature', 11.25, $1::timestamptz - interval '1 hour'),
			('veh-1', 'speed_kmh', 42.5, $1::timestamptz - interval '10 minutes'),
			('veh-1', 'battery_pct', 81, $1::timestamptz - interval '10 minutes')`,
		`INSERT INTO rm_hourly (device_id, name, hour, count, sum, min, max)
			SELECT 'st-1', 'pm25', date_trunc('hour', $1::timestamptz) - make_interval(hours => h), 1, 12.5, 12.5, 12.5 FROM generate_series(1, 30) AS h`,
		`INSERT INTO projection_buckets (name, width_seconds, zone, created_at) VALUES ('q15', 900, '', $1::timestamptz)`,
		`INSERT INTO rm_buckets (projection, device_id, name, start, count, sum, min, max)
			SELECT 'q15', 'st-1', 'pm25', date_trunc('hour', $1::timestamptz) - make_interval(mins => 15 * q), 1, 12.5, 12.5, 12.5 FROM generate_series(1, 20) AS q`,
		`INSERT INTO rm_device_history (device_id, commit_pos, prepare_pos, event_type, at, version, details) VALUES
			('st-1', 10, 1, 'StationRegistered', $1::timestamptz - interval '40 days', 0, '{"name": "Krakow", "location": {"lat": 50.06, "lon": 19.94}, "timezone": "Europe/Warsaw"}'),
			('st-1', 11, 5, 'MeasurementCorrected', $1::timestamptz - interval '2 days', NULL, '{"id": "pm25-3", "value": 12, "reason": "recalibrated", "actor": "ops"}'),
			('veh-1', 12, 7, 'VehicleRegistered', $1::timestamptz - interval '40 days', 0, '{"name": "Van 1"}')`,
		`INSERT INTO rm_vehicle_events (device_id, eid, type, occurred_at, readings, lat, lon, data) VALUES
			('veh-1', 'e-1', 'telemetry', $1::timestamptz - interval '10 minutes', '{"speed_kmh": 42.5, "battery_pct": 81}', 52.2, 21.0, NULL),
			('veh-1', 'e-2', 'door_opened', $1::timestamptz - interval '20 minutes', NULL, NULL, NULL, '{"door": "rear"}'),
			('veh-1', 'e-3', 'telemetry', $1::timestamptz - interval '30 minutes', '{"speed_kmh": 0}', NULL, NULL, NULL)`,
		`INSERT INTO rm_alerts (device_id, rule, type, raised_at, cleared_at, value, threshold) VALUES
			('st-1', 'pm25-high', 'pm25', $1::timestamptz - interval '2 hours', NULL, 52.5, 35),
			('st-1', 'pm25-high', 'pm25', $1::timestamptz - interval '2 days', $1::timestamptz - interval '47 hours', 40, 35)`,
		`INSERT INTO rm_device_status (device_id, online, last_measured_at, since) VALUES
			('st-1', false, $1::timestamptz - interval '1 hour', $1::timestamptz - interval '30 minutes')`,
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s, specNow); err != nil {
			t.Fatalf("seed read models: %v\n%s", err, s)
		}
	}
}

// --- checking answers against the document ---------------------------------------

type specChecker struct {
	t        *testing.T
	base     string
	doc      *openapi3.T
	router   routers.Router
	answered map[string]bool // "GET /path" of documented operations answered with a 2xx
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

// get sends a GET, wants the status, validates the answer (and, for a
// success, the request too) against the document, and returns a JSON body.
func (c *specChecker) get(path string, want int) map[string]any {
	c.t.Helper()
	ctx := context.Background()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("GET %s: no operation in openapi.json: %v", path, err)
		return nil
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true}}
	if want < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			c.t.Errorf("GET %s: the document refuses a request the API accepts: %v", path, err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		c.t.Errorf("GET %s: status %d, want %d: %s", path, resp.StatusCode, want, body)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("GET %s: the answer (%d) does not match openapi.json: %v\nbody: %.500s", path, resp.StatusCode, err, body)
	}
	if resp.StatusCode < 300 {
		c.answered[route.Method+" "+route.Path] = true
	}
	var v map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &v); err != nil {
			c.t.Errorf("GET %s: body is not a JSON object: %v", path, err)
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
