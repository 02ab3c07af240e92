package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/fleetpulse/fleetpulse/readapi/dashboard"
)

func serve(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandler_ServesThePageAndItsHashedAssets(t *testing.T) {
	h := dashboard.Handler()
	page := serve(t, h, "GET", "/")
	body, _ := io.ReadAll(page.Body)
	if page.StatusCode != 200 || page.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %s", page.StatusCode, page.Header.Get("Content-Type"))
	}
	if cc := page.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("the page must be revalidated (a new build shows at once); Cache-Control = %q", cc)
	}
	if page.Header.Get("Content-Security-Policy") == "" || page.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("the page should carry a CSP and nosniff")
	}
	if again := serve(t, h, "GET", "/", "If-None-Match", page.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: %d, want 304", again.StatusCode)
	}
	if idx := serve(t, h, "GET", "/index.html"); idx.StatusCode != 200 {
		t.Errorf("GET /index.html: %d", idx.StatusCode)
	}

	// Every asset the page links is served, with its type, cached for good.
	refs := regexp.MustCompile(`(?:src|href)="/dashboard/(assets/[^"]+)"`).FindAllStringSubmatch(string(body), -1)
	types := map[string]bool{}
	for _, ref := range refs {
		resp := serve(t, h, "GET", "/"+ref[1])
		ct := resp.Header.Get("Content-Type")
		types[ct] = true
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET /%s: %d, Cache-Control %q", ref[1], resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		if n, _ := io.Copy(io.Discard, resp.Body); n == 0 {
			t.Errorf("GET /%s: empty", ref[1])
		}
	}
	if !types["text/javascript; charset=utf-8"] || !types["text/css; charset=utf-8"] {
		t.Errorf("the page should link a script and a style sheet; linked types %v", types)
	}
	if lic := serve(t, h, "GET", "/licenses.txt"); lic.StatusCode != 200 || !strings.HasPrefix(lic.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /licenses.txt: %d %s", lic.StatusCode, lic.Header.Get("Content-Type"))
	}
	if head := serve(t, h, "HEAD", "/"); head.StatusCode != 200 {
		t.Errorf("HEAD /: %d", head.StatusCode)
	}
}

func TestHandler_RefusesWhatIsNotThere(t *testing.T) {
	h := dashboard.Handler()
	for _, p := range []string{"/nope.js", "/assets/", "/assets/../index.html", "/dist/index.html", "//index.html"} {
		if resp := serve(t, h, "GET", p); resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s, want 404 JSON", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp := serve(t, h, "POST", "/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", resp.StatusCode)
	}
}
