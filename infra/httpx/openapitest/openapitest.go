// Package openapitest checks an API against its own OpenAPI 3 document:
// the document is valid, it names exactly the routes the router serves, and
// real answers (and the requests the API accepts) match it. Both APIs'
// tests use it.
package openapitest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"
)

func init() {
	// Pages, streamed exports and event streams are validated as strings (status, content
	// type, body present); their content is checked by their own tests.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.FileBodyDecoder)
}

// Checker sends requests to a running API and checks them against the
// document it serves at /openapi.json.
type Checker struct {
	t        *testing.T
	base     string
	doc      *openapi3.T
	router   routers.Router
	answered map[string]bool // "METHOD /path" of documented operations answered with a 2xx
	token    string          // what Get sends as its bearer token; "" for none
}

func New(t *testing.T, base string) *Checker {
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
	return &Checker{t: t, base: base, doc: doc, router: router, answered: map[string]bool{}}
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// CheckRoutes compares the router's routes with the document's operations,
// both ways; path parameter names may differ ({id} in code, {vid} in docs).
func (c *Checker) CheckRoutes(h http.Handler) {
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
				served[m+" "+pathParam.ReplaceAllString(tpl, "{}")] = true
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
			documented[m+" "+pathParam.ReplaceAllString(path, "{}")] = true
		}
	}
	for _, k := range sortedKeys(served) {
		if !documented[k] {
			c.t.Errorf("route %s is served but not in openapi.json", k)
		}
	}
	for _, k := range sortedKeys(documented) {
		if !served[k] {
			c.t.Errorf("openapi.json documents %s, which no route serves", k)
		}
	}
}

// Do sends a request, wants the status, validates the answer (and, for a
// success, the request too) against the document, and returns a JSON body.
func (c *Checker) Do(method, path, token, body string, want int, headers ...string) map[string]any {
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

// CheckEveryOperationAnswered makes sure no documented operation went
// untested: each had a real successful answer checked against its schema.
func (c *Checker) CheckEveryOperationAnswered() {
	c.t.Helper()
	for path, item := range c.doc.Paths.Map() {
		for m := range item.Operations() {
			if !c.answered[m+" "+path] {
				c.t.Errorf("no successful answer of %s %s was checked", m, path)
			}
		}
	}
}

// Get is Do for a GET, with the token of UseToken (none by default).
func (c *Checker) Get(path string, want int) map[string]any {
	c.t.Helper()
	return c.Do(http.MethodGet, path, c.token, "", want)
}

// UseToken makes Get send token as its bearer token, for an API whose
// reads need one.
func (c *Checker) UseToken(token string) { c.token = token }

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
