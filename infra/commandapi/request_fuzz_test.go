package commandapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/httpx/httpxtest"
)

// FuzzCommandAPI sends arbitrary requests to every write route of a real
// command API (PostgreSQL event store, in-process bus): any path id, token,
// If-Match header and body. Whatever arrives, the answer is JSON and never a
// 5xx, a refused request stores nothing, and only the operator or the device
// itself, on its own telemetry route, gets a 2xx.
func FuzzCommandAPI(f *testing.F) {
	// Every route as the device itself, then as the operator (who revokes
	// and decommissions last).
	for _, caller := range []uint8{2, 3} {
		for i, r := range writeRoutes {
			id := map[bool]string{true: "st-a", false: "veh-a"}[strings.HasPrefix(r.path, "/v1/stations")]
			f.Add(uint8(i), id, caller, "", "", []byte(r.body))
		}
	}
	seeds := []struct {
		route          uint8
		id             string
		caller         uint8
		token, ifMatch string
		body           string
	}{
		{1, "st-a", 2, "", "", writeRoutes[1].body},
		{1, "st-b", 2, "", "", writeRoutes[1].body},
		{10, "veh-a", 2, "", "", writeRoutes[10].body},
		{10, "veh-b", 2, "", "", writeRoutes[10].body},
		{2, "st-a", 3, "", `"0"`, writeRoutes[2].body},
		{2, "st-a", 3, "", "W/\"99\"", writeRoutes[2].body},
		{2, "st-a", 3, "", "-1", writeRoutes[2].body},
		{1, "st-a", 4, "st-a.forged", "", writeRoutes[1].body},
		{1, "st-a", 4, admin, "", writeRoutes[1].body},
		{1, "..%2F..%2Fetc", 3, "", "", writeRoutes[1].body},
		{1, "st-a' OR '1'='1", 3, "", "", writeRoutes[1].body},
		{1, "%00", 3, "", "", writeRoutes[1].body},
		{1, "st-a", 2, "", "", `{"measurements": [{"type": "pm25", "value": 1, "measured_at": "9999-12-31T23:59:59Z"}]}`},
		{1, "st-a", 2, "", "", `{"measurements": [{"type": "pm25", "value": 1, "measured_at": "1969-12-31T23:59:59Z"}]}`},
		{1, "st-a", 2, "", "", "{\"measurements\": [{\"id\": \"\xff\", \"type\": \"pm25\", \"value\": 1, \"measured_at\": \"2026-06-01T11:00:00Z\"}]}"},
		{10, "veh-a", 2, "", "", `{"events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "data": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}]}`},
		{5, "st-a", 3, "", "", `{"rule": "r", "type": "pm25", "above": 1, "for": "-5m"}`},
		{3, "st-a", 3, "", "", `{"value": 1e308, "reason": "r", "actor": "a"}`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.id, s.caller, s.token, s.ifMatch, []byte(s.body))
	}

	s := newServer(f)
	tokens := map[string]string{
		"st-a":  s.register(f, "stations", "st-a"),
		"veh-a": s.register(f, "vehicles", "veh-a"),
	}
	// Devices whose tokens the fuzzer never holds: writing to them as st-a
	// or veh-a must be refused.
	s.register(f, "stations", "st-b")
	s.register(f, "vehicles", "veh-b")

	client := &http.Client{Timeout: 30 * time.Second}
	f.Fuzz(func(t *testing.T, route uint8, id string, callerKind uint8, rawToken, ifMatch string, body []byte) {
		r := writeRoutes[int(route)%len(writeRoutes)]
		var token, tokenOwner string
		switch callerKind % 5 {
		case 1:
			token = "not-a-token"
		case 2:
			tokenOwner = map[bool]string{true: "st-a", false: "veh-a"}[strings.HasPrefix(r.path, "/v1/stations")]
			token = tokens[tokenOwner]
		case 3:
			token, tokenOwner = admin, "operator"
		case 4:
			token = rawToken
			if token == admin {
				tokenOwner = "operator"
			}
			for owner, tok := range tokens {
				if token == tok {
					tokenOwner = owner
				}
			}
		}
		req, err := http.NewRequest(r.method, s.url+strings.ReplaceAll(r.path, "{id}", id), strings.NewReader(string(body)))
		if err != nil {
			return // not a request a client can send
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		before := s.events(t)
		a, judged := httpxtest.Send(t, client, req)
		if !judged {
			if s.events(t) != before {
				t.Fatal("a request no handler saw stored events")
			}
			return
		}
		if a.Status >= 500 {
			t.Fatalf("%s %s (token %q, If-Match %q): %d %s", req.Method, req.URL, token, ifMatch, a.Status, a.Body)
		}
		if !json.Valid(a.Body) {
			t.Fatalf("%s %s: %d, answer is not JSON: %q", req.Method, req.URL, a.Status, a.Body)
		}
		stored := s.events(t) != before
		ok := a.Status >= 200 && a.Status <= 299
		switch {
		case !ok && stored:
			t.Fatalf("%s %s: refused with %d %s but stored events", req.Method, req.URL, a.Status, a.Body)
		case ok && tokenOwner == "":
			t.Fatalf("%s %s: %d for a caller without a valid token (%q)", req.Method, req.URL, a.Status, token)
		case ok && tokenOwner != "operator" && (!r.deviceMay || req.URL.Path != strings.ReplaceAll(r.path, "{id}", tokenOwner)):
			t.Fatalf("%s %s: %d for device %s", req.Method, req.URL, a.Status, tokenOwner)
		}
	})
}
