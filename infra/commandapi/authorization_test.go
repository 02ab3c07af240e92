package commandapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/commandapi"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
)

// writeRoute is one write route of the command API with a body it accepts
// from an operator; deviceMay says the device named in the path may call it.
type writeRoute struct {
	method, path, body string
	deviceMay          bool
}

// writeRoutes lists every write route; the order is the order an operator
// can call them in on one station and one vehicle (the destructive ones last).
var writeRoutes = []writeRoute{
	{"POST", "/v1/stations", `{"id": "st-new", "name": "n", "location": {"lat": 1, "lon": 2}}`, false},
	{"POST", "/v1/stations/{id}/measurements", `{"measurements": [{"id": "m1", "type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`, true},
	{"PUT", "/v1/stations/{id}", `{"name": "renamed", "location": {"lat": 1, "lon": 2}, "timezone": "UTC"}`, false},
	{"POST", "/v1/stations/{id}/measurements/m1/correction", `{"value": 2, "reason": "recalibrated", "actor": "ops"}`, false},
	{"POST", "/v1/stations/{id}/measurements/m1/retraction", `{"reason": "sensor fault", "actor": "ops"}`, false},
	{"POST", "/v1/stations/{id}/alert-rules", `{"rule": "pm25-high", "type": "pm25", "above": 50, "for": "10m"}`, false},
	{"POST", "/v1/stations/{id}/token", ``, false},
	{"DELETE", "/v1/stations/{id}/token", ``, false},
	{"DELETE", "/v1/stations/{id}", ``, false},
	{"POST", "/v1/vehicles", `{"vid": "veh-new", "name": "n"}`, false},
	{"POST", "/v1/vehicles/{id}/events", `{"events": [{"eid": "e1", "type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 10}}]}`, true},
	{"PUT", "/v1/vehicles/{id}", `{"name": "renamed"}`, false},
	{"POST", "/v1/vehicles/{id}/token", ``, false},
	{"DELETE", "/v1/vehicles/{id}/token", ``, false},
	{"DELETE", "/v1/vehicles/{id}", ``, false},
	{"POST", "/v1/read-keys", `{"name": "wall screen", "devices": ["st-a"]}`, false},
	{"DELETE", "/v1/read-keys/{id}", ``, false}, // the key the test creates as "st-a"
	{"POST", "/v1/imports", "station,type,value,measured_at\nst-a,pm25,1,2026-06-01T11:00:00Z\n", false},
	{"POST", "/v1/webhooks", `{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef"}`, false},
	{"POST", "/v1/webhooks/{id}/enable", ``, false}, // before the removal
	{"DELETE", "/v1/webhooks/{id}", ``, false},
}

// routeHeaders are the headers a route's body needs: an import is a file.
func routeHeaders(r writeRoute) []string {
	if strings.HasPrefix(r.path, "/v1/imports") {
		return []string{"Content-Type", "text/csv"}
	}
	return nil
}

// TestCommandAPI_EveryWriteRouteAuthorizesItsCaller calls every write route
// as every kind of caller: without a token, with a forged or malformed one,
// as another device, as the device itself and as the operator. Only the
// operator, and a device on its own telemetry route, may write; every
// refusal stores nothing.
func TestCommandAPI_EveryWriteRouteAuthorizesItsCaller(t *testing.T) {
	s := newServer(t)
	tokens := map[string]string{
		"stations": s.register(t, "stations", "st-a"),
		"vehicles": s.register(t, "vehicles", "veh-a"),
	}
	otherStation := s.register(t, "stations", "st-b")
	otherVehicle := s.register(t, "vehicles", "veh-b")
	own := map[string]string{"stations": "st-a", "vehicles": "veh-a"}
	// A read key whose id is st-a, so DELETE /v1/read-keys/{id} has one to revoke.
	_, hash := domain.NewReadKey("st-a")
	app := commands.NewApplication(eventstore.New(s.pool, eventstore.Config{Unbatched: true}), time.Now, domain.DefaultTelemetryPolicy)
	if _, err := app.CreateReadKey.Handle(t.Context(), &commands.CreateReadKey{Caller: commands.Caller{Admin: true}, KeyID: "st-a", Name: "st-a", KeyHash: hash}); err != nil {
		t.Fatal(err)
	}
	// Webhook routes are the operator's alone; a station's tokens try them.
	hook := s.do(t, "POST", "/v1/webhooks", admin, `{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef"}`)
	own["webhooks"], _ = hook.body["id"].(string)
	tokens["webhooks"] = tokens["stations"]

	type caller struct {
		name  string
		token func(kind string) string
		want  func(r writeRoute) int // the status, or 0 for any 2xx
	}
	refused := func(status int) func(writeRoute) int { return func(writeRoute) int { return status } }
	callers := []caller{
		{"no token", func(string) string { return "" }, refused(401)},
		{"malformed token", func(string) string { return "not-a-token" }, refused(401)},
		{"own id, forged secret", func(kind string) string { return own[kind] + "." + strings.Repeat("x", 43) }, refused(401)},
		{"another device of the same kind", func(kind string) string {
			return map[string]string{"stations": otherStation, "vehicles": otherVehicle, "webhooks": otherStation}[kind]
		}, refused(403)},
		{"a device of the other kind", func(kind string) string {
			return map[string]string{"stations": tokens["vehicles"], "vehicles": tokens["stations"], "webhooks": tokens["vehicles"]}[kind]
		}, refused(403)},
		{"the device itself", func(kind string) string { return tokens[kind] }, func(r writeRoute) int {
			if r.deviceMay {
				return 0
			}
			return 403
		}},
		// Last, because the operator revokes tokens and decommissions devices.
		{"the operator", func(string) string { return admin }, func(writeRoute) int { return 0 }},
	}
	for _, c := range callers {
		for _, r := range writeRoutes {
			kind := strings.Split(r.path, "/")[2]
			if _, ok := own[kind]; !ok {
				kind = "stations" // read keys: devices try them with station tokens
			}
			path := strings.ReplaceAll(r.path, "{id}", own[kind])
			t.Run(c.name+"/"+r.method+" "+r.path, func(t *testing.T) {
				before := s.events(t)
				got := s.do(t, r.method, path, c.token(kind), r.body, routeHeaders(r)...)
				want := c.want(r)
				switch {
				case want == 0 && (got.status < 200 || got.status > 299):
					t.Fatalf("got %d %v, want a 2xx", got.status, got.body)
				case want != 0 && got.status != want:
					t.Fatalf("got %d %v, want %d", got.status, got.body, want)
				case want != 0 && s.events(t) != before:
					t.Fatal("a refused request stored events")
				}
			})
		}
	}
}

// TestCommandAPI_WriteRouteListIsComplete keeps the matrix above honest: a
// new write route fails here until it is added to writeRoutes.
func TestCommandAPI_WriteRouteListIsComplete(t *testing.T) {
	h := commandapi.NewHandler(nil, commandapi.Config{}, httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	router, ok := h.(*mux.Router)
	if !ok {
		t.Fatalf("NewHandler returned %T, not a *mux.Router", h)
	}
	var listed []string
	for _, r := range writeRoutes {
		listed = append(listed, r.method+" "+strings.ReplaceAll(r.path, "m1", "{mid}"))
	}
	err := router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil || !strings.HasPrefix(path, "/v1/") {
			return nil
		}
		methods, _ := route.GetMethods()
		for _, m := range methods {
			if m != http.MethodGet && m != http.MethodHead && !slices.Contains(listed, m+" "+path) {
				t.Errorf("write route %s %s is not in writeRoutes", m, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommandAPI_EveryWriteRouteAuthenticatesBeforeItReadsTheBody sends
// every write route bodies and headers it would refuse (an empty object,
// an unknown field, not JSON, a bad If-Match) from every caller but the
// operator: a caller that may not call the route hears 401 or 403, never
// 400 about a body it had no right to send; the device itself, on its own
// telemetry route, hears what is wrong with the body.
func TestCommandAPI_EveryWriteRouteAuthenticatesBeforeItReadsTheBody(t *testing.T) {
	s := newServer(t)
	tokens := map[string]string{
		"stations": s.register(t, "stations", "st-a"),
		"vehicles": s.register(t, "vehicles", "veh-a"),
	}
	other := map[string]string{"stations": s.register(t, "stations", "st-b"), "vehicles": s.register(t, "vehicles", "veh-b")}
	other["webhooks"] = other["stations"]
	own := map[string]string{"stations": "st-a", "vehicles": "veh-a"}
	// Webhook routes are the operator's alone; a station's tokens try them.
	hook := s.do(t, "POST", "/v1/webhooks", admin, `{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef"}`)
	own["webhooks"], _ = hook.body["id"].(string)
	tokens["webhooks"] = tokens["stations"]
	callers := []struct {
		name   string
		token  func(kind string) string
		status func(r writeRoute) int
	}{
		{"no token", func(string) string { return "" }, func(writeRoute) int { return 401 }},
		{"malformed token", func(string) string { return "not-a-token" }, func(writeRoute) int { return 401 }},
		{"own id, forged secret", func(kind string) string { return own[kind] + "." + strings.Repeat("x", 43) }, func(writeRoute) int { return 401 }},
		{"another device", func(kind string) string { return other[kind] }, func(writeRoute) int { return 403 }},
		{"the device itself", func(kind string) string { return tokens[kind] }, func(r writeRoute) int {
			if r.deviceMay {
				return 400
			}
			return 403
		}},
	}
	bad := []struct{ name, body, ifMatch string }{
		{"empty object", `{}`, ""},
		{"unknown field", `{"bogus": 1}`, ""},
		{"not JSON", `{"measurements": [`, ""},
		{"bad If-Match", `{}`, "soon"},
	}
	for _, c := range callers {
		for _, r := range writeRoutes {
			for _, b := range bad {
				kind := strings.Split(r.path, "/")[2]
				if _, ok := own[kind]; !ok {
					kind = "stations" // read keys: devices try them with station tokens
				}
				path := strings.ReplaceAll(r.path, "{id}", own[kind])
				want := c.status(r)
				if want == 400 && b.name == "bad If-Match" {
					continue // telemetry takes no If-Match
				}
				t.Run(c.name+"/"+r.method+" "+r.path+"/"+b.name, func(t *testing.T) {
					before := s.events(t)
					got := s.do(t, r.method, path, c.token(kind), b.body, "If-Match", b.ifMatch)
					if got.status != want {
						t.Fatalf("got %d %v, want %d", got.status, got.body, want)
					}
					if want == 401 && got.header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
					if s.events(t) != before {
						t.Fatal("a refused request stored events")
					}
				})
			}
		}
	}
}
