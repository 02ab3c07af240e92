package httpx

import (
	_ "embed"
	"net/http"

	"github.com/gorilla/mux"
)

// docsPage renders the /openapi.json next to it for people; one page
// serves both APIs.
//
//go:embed docs.html
var docsPage []byte

// APIDocs serves an API's OpenAPI document at /openapi.json and the
// browsable docs page at /docs.
func APIDocs(r *mux.Router, openAPI []byte) {
	r.HandleFunc("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openAPI)
	}).Methods(http.MethodGet)
	r.HandleFunc("/docs", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(docsPage)
	}).Methods(http.MethodGet)
}
