package commandapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/bus"
	"github.com/fleetpulse/fleetpulse/infra/commandapi"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/httpx/openapitest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/importjobs"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/webhookstore"
)

const specAdmin = "spec-admin-token"

// specServer serves the command API over the real in-process bus and a
// throwaway PostgreSQL event store, its clock stopped at now, and returns
// the handler, a checker of its OpenAPI document and a function that
// projects the webhooks registered so far.
func specServer(t *testing.T, now time.Time) (http.Handler, *openapitest.Checker, func()) {
	t.Helper()
	pool, _ := pgtest.NewDatabase(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := eventstore.New(pool, eventstore.Config{Unbatched: true})
	app := commands.NewApplication(store, func() time.Time { return now }, domain.DefaultTelemetryPolicy).WithWebhookTargets(exampleTargets{})
	b, err := bus.NewInProcess(app, logger, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	hooks := webhookstore.New(pool)
	h := commandapi.NewHandler(b, commandapi.Config{AdminToken: specAdmin, MaxBodyBytes: 16 << 10, RequestTimeout: 10 * time.Second,
		Imports: importjobs.New(pool), MaxImportBytes: 32 << 10, Webhooks: hooks},
		httpx.NewRegistry(), logger, httpx.Pinger(pool.Ping))
	project := func() { specDispatch(t, store, hooks, logger) }
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, openapitest.New(t, srv.URL), project
}

// exampleTargets accepts every webhook target: the examples name
// hooks.example.com, which need not resolve where tests run (the SSRF guard
// has tests of its own in infra/webhook).
type exampleTargets struct{}

func (exampleTargets) CheckTarget(context.Context, string) error { return nil }

// specDispatch projects the webhooks registered so far (the projector
// process's job), so the delivery log route knows them.
func specDispatch(t *testing.T, store *eventstore.Store, hooks *webhookstore.Store, logger *slog.Logger) {
	t.Helper()
	d := commands.NewWebhookDispatcher(store, nil, hooks, logger, commands.WebhookDispatcherConfig{})
	if err := d.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	head, err := store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Events become readable once older transactions of the cluster end.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := d.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		cp, err := hooks.WebhookCheckpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !cp.Less(head) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook dispatcher stands at %s, short of the log's head %s", cp, head)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpenAPI_DocumentMatchesRoutesAndRealAnswers checks the command API's
// OpenAPI document three ways: it is a valid OpenAPI 3 document; it names
// exactly the routes the router serves; and real answers (through the real
// bus and PostgreSQL event store) to a whole device lifecycle, errors
// included, match the documented statuses, headers and schemas. Requests
// the API accepts must satisfy the documented request schemas too.
func TestOpenAPI_DocumentMatchesRoutesAndRealAnswers(t *testing.T) {
	h, c, project := specServer(t, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	c.CheckRoutes(h)
	const m1 = `{"measurements": [{"id": "m-1", "type": "pm25", "value": 12.5, "measured_at": "2026-06-01T11:00:00Z"},
		{"type": "temperature", "value": -3, "measured_at": "2026-06-01T11:00:00Z"}]}`

	// Stations.
	st := c.Do("POST", "/v1/stations", specAdmin, `{"id": "krk-1", "name": "Kraków", "location": {"lat": 50.06, "lon": 19.94}, "timezone": "Europe/Warsaw"}`, 201)
	stToken, _ := st["token"].(string)
	c.Do("POST", "/v1/stations", specAdmin, `{"name": "Anonymous", "location": {"lat": 0, "lon": 0}}`, 201)
	c.Do("POST", "/v1/stations", specAdmin, `{"id": "krk-1", "name": "again", "location": {"lat": 1, "lon": 1}}`, 409)
	c.Do("POST", "/v1/stations", "", `{"id": "x", "name": "n", "location": {"lat": 1, "lon": 1}}`, 401)
	c.Do("POST", "/v1/stations", stToken, `{"id": "x", "name": "n", "location": {"lat": 1, "lon": 1}}`, 403)
	c.Do("POST", "/v1/stations", specAdmin, `{"id": "x", "name": "n"}`, 400)
	c.Do("POST", "/v1/stations", specAdmin, `{"id": "x", "name": "n", "location": {"lat": 1, "lon": 1}, "extra": 1}`, 400)
	c.Do("POST", "/v1/stations", specAdmin, `{"name": "`+strings.Repeat("x", 20<<10)+`"}`, 413)
	c.Do("PUT", "/v1/stations/krk-1", specAdmin, `{"name": "Kraków Centrum", "location": {"lat": 50.06, "lon": 19.94}}`, 200, "If-Match", `"0"`)
	c.Do("PUT", "/v1/stations/krk-1", specAdmin, `{"name": "stale", "location": {"lat": 50.06, "lon": 19.94}}`, 409, "If-Match", `"0"`)
	c.Do("PUT", "/v1/stations/nope", specAdmin, `{"name": "n", "location": {"lat": 1, "lon": 1}}`, 404)
	c.Do("PUT", "/v1/stations/krk-1", specAdmin, `{"name": "n", "location": {"lat": 1, "lon": 1}}`, 400, "If-Match", "soon")
	c.Do("DELETE", "/v1/stations/krk-1/token", stToken, "", 403)
	c.Do("DELETE", "/v1/stations/krk-1/token", specAdmin, "", 200)
	c.Do("DELETE", "/v1/stations/krk-1/token", stToken, "", 401) // revoked
	rot := c.Do("POST", "/v1/stations/krk-1/token", specAdmin, "", 200)
	stToken, _ = rot["token"].(string)
	c.Do("POST", "/v1/stations/nope/token", specAdmin, "", 404)
	c.Do("POST", "/v1/stations/krk-1/measurements", stToken, m1, 201)
	if r := c.Do("POST", "/v1/stations/krk-1/measurements", stToken, `{"measurements": [{"id": "m-1", "type": "pm25", "value": 12.5, "measured_at": "2026-06-01T11:00:00Z"}]}`, 201); r["duplicates"] != 1.0 {
		t.Errorf("a repeated id should be a duplicate: %v", r)
	}
	if r := c.Do("POST", "/v1/stations/krk-1/measurements", stToken, `{"measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}, {"type": "PM25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`, 400); r != nil {
		if e, _ := r["error"].(map[string]any); e["index"] != 1.0 || e["field"] != "type" {
			t.Errorf("a bad item should be named: %v", r)
		}
	}
	c.Do("POST", "/v1/stations/krk-1/measurements", stToken, `{"measurements": []}`, 400)
	c.Do("POST", "/v1/stations/krk-1/measurements", "krk-1.wrong", m1, 401)
	c.Do("POST", "/v1/stations/nope/measurements", specAdmin, m1, 404)
	c.Do("POST", "/v1/stations/krk-1/measurements/m-1/correction", specAdmin, `{"value": 11.5, "reason": "recalibrated", "actor": "ops@example.com"}`, 201)
	c.Do("POST", "/v1/stations/krk-1/measurements/m-1/correction", specAdmin, `{"reason": "no value", "actor": "ops"}`, 400)
	c.Do("POST", "/v1/stations/krk-1/measurements/never/correction", specAdmin, `{"value": 1, "reason": "r", "actor": "a"}`, 404)
	c.Do("POST", "/v1/stations/krk-1/measurements/m-1/correction", stToken, `{"value": 1, "reason": "r", "actor": "a"}`, 403)
	c.Do("POST", "/v1/stations/krk-1/measurements/m-1/retraction", specAdmin, `{"reason": "sensor fault", "actor": "ops@example.com"}`, 201)
	c.Do("POST", "/v1/stations/krk-1/measurements/m-1/retraction", specAdmin, `{"reason": "", "actor": "ops"}`, 400)
	c.Do("POST", "/v1/stations/krk-1/alert-rules", specAdmin, `{"rule": "pm25-high", "type": "pm25", "above": 35, "for": "10m"}`, 201)
	c.Do("POST", "/v1/stations/krk-1/alert-rules", specAdmin, `{"rule": "pm25-high", "type": "pm25", "above": 35, "for": "ten minutes"}`, 400)
	c.Do("POST", "/v1/stations/krk-1/alert-rules", stToken, `{"rule": "pm25-high", "type": "pm25", "above": 35}`, 403)
	c.Do("POST", "/v1/stations/nope/alert-rules", specAdmin, `{"rule": "pm25-high", "type": "pm25", "above": 35}`, 404)
	c.Do("DELETE", "/v1/stations/krk-1", specAdmin, "", 200)
	c.Do("DELETE", "/v1/stations/nope", specAdmin, "", 404)
	c.Do("POST", "/v1/stations/krk-1/measurements", stToken, m1, 409)

	// Vehicles.
	v := c.Do("POST", "/v1/vehicles", specAdmin, `{"vid": "van-7", "name": "Van 7", "vin": "1HGCM82633A004352", "plate": "KR 777", "model": "e-Transit", "timezone": "UTC"}`, 201)
	vToken, _ := v["token"].(string)
	c.Do("POST", "/v1/vehicles", specAdmin, `{"name": "Anonymous van"}`, 201)
	c.Do("POST", "/v1/vehicles", specAdmin, `{"vid": "van-7", "name": "again"}`, 409)
	c.Do("POST", "/v1/vehicles", specAdmin, `{"vid": "van-8", "name": "n", "vin": "short"}`, 400)
	c.Do("PUT", "/v1/vehicles/van-7", specAdmin, `{"name": "Van 7b", "plate": "KR 778"}`, 200, "If-Match", "0")
	c.Do("PUT", "/v1/vehicles/van-7", specAdmin, `{"name": "stale"}`, 409, "If-Match", "0")
	c.Do("PUT", "/v1/vehicles/van-7", vToken, `{"name": "self-service"}`, 403)
	c.Do("DELETE", "/v1/vehicles/nope/token", specAdmin, "", 404)
	c.Do("DELETE", "/v1/vehicles/van-7/token", specAdmin, "", 200)
	rot = c.Do("POST", "/v1/vehicles/van-7/token", specAdmin, "", 200)
	vToken, _ = rot["token"].(string)
	c.Do("POST", "/v1/vehicles/nope/token", specAdmin, "", 404)
	ev := c.Do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [
		{"eid": "e-1", "type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 50, "battery_pct": 80}, "location": {"lat": 52.2, "lon": 21}},
		{"type": "door_opened", "occurred_at": "2026-06-01T11:00:01Z", "data": {"door": "rear"}}]}`, 201)
	if eids, _ := ev["eids"].([]any); len(eids) != 2 {
		t.Errorf("eids: %v", ev)
	}
	c.Do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "location": {"lat": 91, "lon": 0}}]}`, 400)
	c.Do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-02T11:00:00Z"}]}`, 400)
	c.Do("POST", "/v1/vehicles/van-7/events", stToken, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z"}]}`, 403)
	c.Do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [`, 400)
	c.Do("DELETE", "/v1/vehicles/van-7", specAdmin, "", 200, "If-Match", `"3"`) // registered 0, updated 1, token revoked 2, rotated 3
	c.Do("DELETE", "/v1/vehicles/nope", specAdmin, "", 404)
	c.Do("POST", "/v1/vehicles/van-7/events", vToken, `{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z"}]}`, 409)

	// Read keys: krk-1 was decommissioned above, but is still a known device.
	rk := c.Do("POST", "/v1/read-keys", specAdmin, `{"name": "depot wall screen", "devices": ["krk-1", "van-7"]}`, 201)
	keyID, _ := rk["id"].(string)
	if key, _ := rk["key"].(string); !strings.HasPrefix(key, "fpr_"+keyID+".") {
		t.Errorf("read key %q does not carry its id %q", key, keyID)
	}
	c.Do("POST", "/v1/read-keys", specAdmin, `{"name": "every device"}`, 201)
	c.Do("POST", "/v1/read-keys", specAdmin, `{"name": "typo", "devices": ["krk-9"]}`, 404)
	c.Do("POST", "/v1/read-keys", specAdmin, `{"name": ""}`, 400)
	c.Do("POST", "/v1/read-keys", specAdmin, `{"name": "n", "devices": []}`, 400)
	c.Do("POST", "/v1/read-keys", "", `{"name": "n"}`, 401)
	c.Do("POST", "/v1/read-keys", stToken, `{"name": "n"}`, 403)
	c.Do("POST", "/v1/read-keys", specAdmin, `{"name": "`+strings.Repeat("x", 20<<10)+`"}`, 413)
	c.Do("DELETE", "/v1/read-keys/"+keyID, stToken, "", 403)
	c.Do("DELETE", "/v1/read-keys/"+keyID, specAdmin, "", 204)
	c.Do("DELETE", "/v1/read-keys/"+keyID, specAdmin, "", 204) // again: nothing more to do
	c.Do("DELETE", "/v1/read-keys/no-such-key", specAdmin, "", 404)
	c.Do("DELETE", "/v1/read-keys/"+keyID, "", "", 401)
	// Import jobs (no runner here: they stay queued).
	csv := "station,id,type,value,measured_at\nkrk-1,m-9,pm25,1,2026-06-01T10:00:00Z\n"
	job := c.Do("POST", "/v1/imports", specAdmin, csv, 202, "Content-Type", "text/csv")
	c.Do("POST", "/v1/imports", specAdmin, `{"station": "krk-1"}`+"\n", 202, "Content-Type", "application/x-ndjson; charset=utf-8")
	if pq := c.Do("POST", "/v1/imports", specAdmin, "PAR1", 202, "Content-Type", "application/vnd.apache.parquet"); pq["format"] != "parquet" {
		t.Errorf("a Parquet upload's job: %v", pq)
	}
	c.Do("POST", "/v1/imports", specAdmin, csv, 415, "Content-Type", "application/json")
	c.Do("POST", "/v1/imports", specAdmin, strings.Repeat(csv, 1000), 413, "Content-Type", "text/csv")
	c.Do("POST", "/v1/imports", stToken, csv, 403, "Content-Type", "text/csv") // a device
	c.Do("POST", "/v1/imports", "", csv, 401, "Content-Type", "text/csv")
	if id, _ := job["id"].(string); id != "" {
		if got := c.Do("GET", "/v1/imports/"+id, specAdmin, "", 200); got["state"] != "queued" || got["bytes"] != float64(len(csv)) {
			t.Errorf("a new job: %v", got)
		}
	}
	c.Do("GET", "/v1/imports/nope", specAdmin, "", 404)
	// Webhooks.
	hook := c.Do("POST", "/v1/webhooks", specAdmin, `{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef", "types": ["AlertRaised"], "devices": ["krk-1"]}`, 201)
	hookID, _ := hook["id"].(string)
	c.Do("POST", "/v1/webhooks", specAdmin, `{"url": "ftp://hooks.example.com/a", "secret": "0123456789abcdef"}`, 400)
	c.Do("POST", "/v1/webhooks", specAdmin, `{"url": "https://hooks.example.com/a", "secret": "short"}`, 400)
	c.Do("POST", "/v1/webhooks", specAdmin, `{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef", "types": ["Nope"]}`, 400)
	c.Do("POST", "/v1/webhooks", "", `{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef"}`, 401)
	c.Do("POST", "/v1/webhooks", vToken, `{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef"}`, 403)
	project()
	if r := c.Do("GET", "/v1/webhooks/"+hookID+"/deliveries", specAdmin, "", 200); r != nil {
		if d, _ := r["deliveries"].([]any); len(d) != 0 {
			t.Errorf("a new webhook has delivered nothing: %v", r)
		}
	}
	if r := c.Do("GET", "/v1/webhooks", specAdmin, "", 200); r != nil {
		hooks, _ := r["webhooks"].([]any)
		first, _ := func() (map[string]any, bool) {
			if len(hooks) != 1 {
				return nil, false
			}
			m, ok := hooks[0].(map[string]any)
			return m, ok
		}()
		if first == nil || first["id"] != hookID || first["state"] != "active" || first["secret"] != nil {
			t.Errorf("the webhook list: %v", r)
		}
	}
	c.Do("GET", "/v1/webhooks", vToken, "", 403)
	c.Do("POST", "/v1/webhooks/"+hookID+"/enable", specAdmin, "", 204) // active: left as it is
	c.Do("POST", "/v1/webhooks/nope/enable", specAdmin, "", 404)
	c.Do("POST", "/v1/webhooks/"+hookID+"/enable", vToken, "", 403)
	c.Do("GET", "/v1/webhooks/"+hookID+"/deliveries?limit=0", specAdmin, "", 400)
	c.Do("GET", "/v1/webhooks/nope/deliveries", specAdmin, "", 404)
	c.Do("DELETE", "/v1/webhooks/"+hookID, specAdmin, "", 204)
	c.Do("DELETE", "/v1/webhooks/"+hookID, specAdmin, "", 404)
	c.Do("DELETE", "/v1/webhooks/nope", vToken, "", 403)
	project()
	c.Do("GET", "/v1/webhooks/"+hookID+"/deliveries", specAdmin, "", 404)

	// Operations and pages.
	c.Do("GET", "/healthz", "", "", 200)
	c.Do("GET", "/readyz", "", "", 200)
	c.Do("GET", "/metrics", "", "", 200)
	c.Do("GET", "/openapi.json", "", "", 200)
	c.Do("GET", "/docs", "", "", 200)

	c.CheckEveryOperationAnswered()
}

// TestOpenAPI_EveryWriteCarriesARequestExampleTheAPIAccepts holds the
// document to its promise that each write operation shows what to send:
// every operation with a body has a request example that satisfies its
// schema, the others declare no body, and sent in order (with the path
// parameters' examples) to the real API the examples are all accepted.
func TestOpenAPI_EveryWriteCarriesARequestExampleTheAPIAccepts(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	// The order an operator and a device can send them in.
	order := []string{
		"POST /v1/stations", "PUT /v1/stations/{id}", "POST /v1/stations/{id}/measurements",
		"POST /v1/stations/{id}/measurements/{mid}/correction", "POST /v1/stations/{id}/measurements/{mid}/retraction",
		"POST /v1/stations/{id}/alert-rules", "POST /v1/vehicles", "PUT /v1/vehicles/{vid}", "POST /v1/vehicles/{vid}/events",
		"POST /v1/read-keys",
		"POST /v1/imports",
		"POST /v1/webhooks",
	}
	type example struct {
		path        string // with the path parameters' examples
		body        []byte
		contentType string
	}
	examples := map[string]example{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if method == http.MethodGet || method == http.MethodHead {
				continue
			}
			key := method + " " + path
			if op.RequestBody == nil {
				if slices.Contains(order, key) {
					t.Errorf("%s has no request body", key)
				}
				continue
			}
			// JSON, or a file (an import) sent as it is.
			contentType := "application/json"
			media := op.RequestBody.Value.Content.Get(contentType)
			if media == nil {
				contentType = "text/csv"
				media = op.RequestBody.Value.Content.Get(contentType)
			}
			if media == nil || media.Example == nil {
				t.Errorf("%s: no request example", key)
				continue
			}
			if err := media.Schema.Value.VisitJSON(media.Example); err != nil {
				t.Errorf("%s: the example does not satisfy the request schema: %v", key, err)
			}
			filled := path
			for _, p := range op.Parameters {
				if p.Value.In == "path" {
					if p.Value.Example == nil {
						t.Errorf("%s: path parameter %s has no example", key, p.Value.Name)
						continue
					}
					filled = strings.ReplaceAll(filled, "{"+p.Value.Name+"}", fmt.Sprint(p.Value.Example))
				}
			}
			body, err := json.Marshal(media.Example)
			if err != nil {
				t.Fatal(err)
			}
			if file, ok := media.Example.(string); ok && contentType != "application/json" {
				body = []byte(file)
			}
			examples[key] = example{filled, body, contentType}
			if !slices.Contains(order, key) {
				t.Errorf("%s has a body: add it to this test's order", key)
			}
		}
	}
	if t.Failed() {
		return
	}

	_, c, _ := specServer(t, time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)) // the examples' day
	for _, key := range order {
		method, _, _ := strings.Cut(key, " ")
		ex := examples[key]
		want := http.StatusCreated
		switch {
		case method == http.MethodPut:
			want = http.StatusOK
		case ex.path == "/v1/imports":
			want = http.StatusAccepted
		}
		c.Do(method, ex.path, specAdmin, string(ex.body), want, "Content-Type", ex.contentType)
	}
}
