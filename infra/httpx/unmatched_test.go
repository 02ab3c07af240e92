package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// A wrong method on a path the router serves is 405 with the methods it
// does serve in Allow, also for routes in a subrouter (gorilla/mux alone
// answers those 404); a path it does not serve is 404.
func TestAnswerUnmatched_WrongMethodIs405WithAllowAndUnknownPathIs404(t *testing.T) {
	r := mux.NewRouter()
	httpx.AnswerUnmatched(r)
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	r.HandleFunc("/healthz", ok).Methods(http.MethodGet)
	v1 := r.PathPrefix("/v1").Subrouter()
	v1.HandleFunc("/things", ok).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/things", ok).Methods(http.MethodPost)
	v1.HandleFunc("/things/{id}", ok).Methods(http.MethodPut)
	v1.HandleFunc("/things/{id}", ok).Methods(http.MethodDelete)

	tests := []struct {
		method, path string
		status       int
		allow, code  string
	}{
		{"GET", "/v1/things", 204, "", ""},
		{"DELETE", "/v1/things/7", 204, "", ""},
		{"PATCH", "/v1/things/7", 405, "PUT, DELETE", "method_not_allowed"},
		{"DELETE", "/v1/things", 405, "GET, HEAD, POST", "method_not_allowed"},
		{"OPTIONS", "/v1/things", 405, "GET, HEAD, POST", "method_not_allowed"},
		{"POST", "/healthz", 405, "GET", "method_not_allowed"},
		{"GET", "/v1/nothing", 404, "", "not_found"},
		{"GET", "/v1/things/7/more", 404, "", "not_found"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		var body httpx.ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow || body.Error.Code != tt.code {
			t.Errorf("%s %s: %d Allow %q %s, want %d Allow %q %s", tt.method, tt.path, rec.Code, rec.Header().Get("Allow"), rec.Body, tt.status, tt.allow, tt.code)
		}
	}
}
