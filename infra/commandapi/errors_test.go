package commandapi_test

import (
	"strings"
	"testing"

	"github.com/fleetpulse/fleetpulse/domain"
)

// TestCommandAPI_ErrorsSayWhichFieldAndWhatFormToSend is the command API's
// table of refusals as a person reads them: for each request, the status,
// the machine code and the whole message (with the field and item it
// names). No message names a Go type or a Go time layout, and the caller's
// right to call a route is settled before anything of the body is judged.
func TestCommandAPI_ErrorsSayWhichFieldAndWhatFormToSend(t *testing.T) {
	s := newServer(t)
	tok := s.register(t, "stations", "st")
	s.register(t, "stations", "st-2")
	m := func(items ...string) string { return `{"measurements": [` + strings.Join(items, ",") + `]}` }
	const good = `{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}`
	tests := []struct {
		name, method, path, token, body string
		headers                         []string
		status                          int
		code, message, field            string
		index                           int // -1: none
		allow                           string
	}{
		{name: "unauthenticated registration with an empty body", method: "POST", path: "/v1/stations", body: `{}`,
			status: 401, code: domain.CodeUnauthorized, message: "missing or invalid token: send the header Authorization: Bearer <token>", index: -1},
		{name: "a device registering a station", method: "POST", path: "/v1/stations", token: tok, body: `{}`,
			status: 403, code: domain.CodeForbidden, message: "only the operator may call this route, not a device", index: -1},
		{name: "a value sent as a string", method: "POST", path: "/v1/stations/st/measurements", token: tok,
			body:   m(good, `{"type": "pm25", "value": "12", "measured_at": "2026-06-01T11:00:00Z"}`),
			status: 400, code: "malformed_json", message: `measurements[1].value must be a number, not the string "12"`, field: "value", index: 1},
		{name: "a time in another form", method: "POST", path: "/v1/stations/st/measurements", token: tok,
			body:   m(`{"type": "pm25", "value": 1, "measured_at": "2026-06-01 11:00"}`),
			status: 400, code: "malformed_json", message: `measurements[0].measured_at must be an RFC 3339 time such as "2026-11-23T10:00:00Z", not the string "2026-06-01 11:00"`, field: "measured_at", index: 0},
		{name: "an unknown field in an item", method: "POST", path: "/v1/stations/st/measurements", token: tok,
			body:   m(`{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z", "unit": "ug/m3"}`),
			status: 400, code: "malformed_json", message: `measurements[0] has an unknown field "unit"; its fields are id, type, value, measured_at`, index: 0},
		{name: "a number beyond what a value holds", method: "POST", path: "/v1/stations/st/measurements", token: tok,
			body:   m(`{"type": "pm25", "value": 1e400, "measured_at": "2026-06-01T11:00:00Z"}`),
			status: 400, code: "malformed_json", message: `measurements[0].value must be a number from -1.8e+308 to 1.8e+308, not 1e400`, field: "value", index: 0},
		{name: "not JSON", method: "POST", path: "/v1/stations/st/measurements", token: tok, body: `{"measurements": [NaN]}`,
			status: 400, code: "malformed_json", message: `the body is not valid JSON: invalid character 'N' looking for beginning of value (at byte 19)`, index: -1},
		{name: "an empty body", method: "POST", path: "/v1/stations/st/measurements", token: tok, body: ``,
			status: 400, code: "malformed_json", message: `the body is empty; send a JSON object`, index: -1},
		{name: "a body over the limit", method: "POST", path: "/v1/stations/st/measurements", token: tok, body: m(strings.Repeat(good+",", 2000) + good),
			status: 413, code: "body_too_large", message: `the request body is larger than 65536 bytes; send smaller batches`, index: -1},
		{name: "an item that breaks a rule", method: "POST", path: "/v1/stations/st/measurements", token: tok,
			body:   m(good, `{"type": "PM2.5", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}`),
			status: 400, code: domain.CodeInvalid, message: `item 1: type: must match ^[a-z][a-z0-9_]{0,63}$`, field: "type", index: 1},
		{name: "a malformed body from another device", method: "POST", path: "/v1/stations/st-2/measurements", token: tok, body: `{"measurements": "x"}`,
			status: 403, code: domain.CodeForbidden, message: `a device may write only to itself: forbidden`, index: -1},
		{name: "a latitude sent as a string", method: "POST", path: "/v1/stations", token: admin,
			body:   `{"id": "krk-1", "name": "Kraków", "location": {"lat": "50.06", "lon": 19.94}}`,
			status: 400, code: "malformed_json", message: `location.lat must be a number, not the string "50.06"`, field: "location.lat", index: -1},
		{name: "a station without a location", method: "POST", path: "/v1/stations", token: admin, body: `{"id": "krk-1", "name": "Kraków"}`,
			status: 400, code: domain.CodeInvalid, message: `location: is required`, field: "location", index: -1},
		{name: "a vehicle field that does not exist", method: "POST", path: "/v1/vehicles", token: admin, body: `{"vid": "van-1", "name": "Van", "colour": "red"}`,
			status: 400, code: "malformed_json", message: `the body has an unknown field "colour"; its fields are vid, name, vin, plate, model, timezone`, index: -1},
		{name: "an alert rule held for a duration in words", method: "POST", path: "/v1/stations/st/alert-rules", token: admin,
			body:   `{"rule": "pm25-high", "type": "pm25", "above": 35, "for": "ten minutes"}`,
			status: 400, code: domain.CodeInvalid, message: `for: must be a duration such as 90s, 10m or 1h30m`, field: "for", index: -1},
		{name: "an alert rule without its threshold", method: "POST", path: "/v1/stations/st/alert-rules", token: admin, body: `{"rule": "pm25-high", "type": "pm25"}`,
			status: 400, code: domain.CodeInvalid, message: `above: is required`, field: "above", index: -1},
		{name: "a retraction with a value", method: "POST", path: "/v1/stations/st/measurements/m1/retraction", token: admin, body: `{"value": 1, "reason": "r", "actor": "a"}`,
			status: 400, code: domain.CodeInvalid, message: `value: must be left out: a retraction takes no value (a correction does)`, field: "value", index: -1},
		{name: "an If-Match that is not a version", method: "DELETE", path: "/v1/stations/st", token: admin, headers: []string{"If-Match", "soon"},
			status: 400, code: domain.CodeInvalid, message: `If-Match: must be a version number such as "3" (the ETag of the last answer)`, field: "If-Match", index: -1},
		{name: "a wrong method on a device", method: "PATCH", path: "/v1/stations/st", token: admin, body: `{}`,
			status: 405, code: "method_not_allowed", message: "PATCH is not allowed on this route; use PUT or DELETE", index: -1, allow: "PUT, DELETE"},
		{name: "reading from the command API", method: "GET", path: "/v1/stations", index: -1,
			status: 405, code: "method_not_allowed", message: "GET is not allowed on this route; use POST", allow: "POST"},
		{name: "a wrong method on a telemetry route", method: "PUT", path: "/v1/vehicles/van/events", token: tok, body: `{}`,
			status: 405, code: "method_not_allowed", message: "PUT is not allowed on this route; use POST", index: -1, allow: "POST"},
		{name: "a wrong method on an ops route", method: "POST", path: "/healthz", index: -1,
			status: 405, code: "method_not_allowed", message: "POST is not allowed on this route; use GET", allow: "GET"},
		{name: "no such route", method: "POST", path: "/v1/stations/st/nothing", token: admin, body: `{}`,
			status: 404, code: "not_found", message: "no such route; the routes are listed at /docs", index: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.events(t)
			r := s.do(t, tt.method, tt.path, tt.token, tt.body, tt.headers...)
			e, _ := r.body["error"].(map[string]any)
			field, _ := e["field"].(string)
			index := -1.0
			if i, ok := e["index"].(float64); ok {
				index = i
			}
			if r.status != tt.status || e["code"] != tt.code || e["message"] != tt.message || field != tt.field || index != float64(tt.index) {
				t.Errorf("got %d %v\nwant %d {code:%s message:%s field:%s index:%d}", r.status, r.body, tt.status, tt.code, tt.message, tt.field, tt.index)
			}
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			for _, w := range []string{"Go ", "go struct", "float64", "time.Time", "2006", "15:04", "json:", "unmarshal"} {
				if msg, _ := e["message"].(string); strings.Contains(msg, w) {
					t.Errorf("%q names Go's %q", msg, w)
				}
			}
			if s.events(t) != before {
				t.Fatal("a refused request stored events")
			}
		})
	}
}
