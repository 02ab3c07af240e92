// Package dashboard serves the fleetpulse dashboard: a static page built
// from src/ into dist/ (see README.md) and embedded in the binary, so `go
// build` needs no Node. The page reads everything from the read API.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// contentTypes is fixed here so answers do not depend on the host's MIME
// tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	".map":  "application/json",
}

// csp allows only the page's own scripts, styles and the read API.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

type file struct {
	body        []byte
	contentType string
	etag        string
	cache       string
}

type handler struct {
	files map[string]file // by path under dist, e.g. "index.html", "assets/main-X.js"
}

// Handler serves the dashboard relative to where it is mounted: "/" (and
// "/index.html") answers the page, "/assets/..." its content-hashed
// scripts and styles, cached for a year; the page itself is revalidated on
// every load (ETag), so a new build shows at once. Mount it at "/" or, with
// http.StripPrefix, under "/dashboard"; the page loads its assets from
// "/dashboard/assets/".
func Handler() http.Handler {
	h := &handler{files: map[string]file{}}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "dist/")
		sum := sha256.Sum256(body)
		f := file{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, cache: "no-cache"}
		f.contentType = contentTypes[path.Ext(name)]
		if f.contentType == "" {
			f.contentType = "application/octet-stream"
		}
		if strings.HasPrefix(name, "assets/") {
			// Names carry a hash of the content: they never change.
			f.cache = "public, max-age=31536000, immutable"
		}
		h.files[name] = f
		return nil
	})
	if err != nil {
		panic("dashboard: reading embedded files: " + err.Error()) // only a broken build gets here
	}
	if _, ok := h.files["index.html"]; !ok {
		panic("dashboard: dist/index.html is missing; run readapi/dashboard/build.sh")
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
	}
	f, ok := h.files[name]
	if !ok || name != path.Clean(name) {
		writeError(w, http.StatusNotFound, "not_found", "no such file")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", f.cache)
	hdr.Set("ETag", f.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" {
		hdr.Set("Content-Security-Policy", csp)
		hdr.Set("Referrer-Policy", "no-referrer")
	}
	// ServeContent answers If-None-Match with 304 and handles HEAD and ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// writeError answers in the APIs' error shape without importing them.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + message + `"}}` + "\n"))
}
