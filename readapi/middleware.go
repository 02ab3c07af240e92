package readapi

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/domain"
)

// pathNotFound names what a path variable that cannot exist was looking for.
var pathNotFound = map[string]error{"id": domain.ErrDeviceNotFound, "eid": ErrEventNotFound, "projection": ErrProjectionNotFound}

// refuseUnstorableText answers, before any SQL runs, requests whose query
// string does not parse, or whose path variables or query values PostgreSQL
// text cannot hold (invalid UTF-8, NUL): no read model row can have such a
// name, and the query would fail as a 500.
func refuseUnstorableText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name, v := range mux.Vars(r) {
			if !storableText(v) {
				kind := pathNotFound[name]
				if kind == nil {
					kind = errNoSuchPath
				}
				writeError(w, refuse(kind, "no such %s", name))
				return
			}
		}
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			// URL.Query would drop the broken pair silently and answer as if
			// it had not been sent.
			writeError(w, refuse(errInvalidQuery, "the query string does not parse: %v", err))
			return
		}
		for key, vs := range query {
			for _, v := range vs {
				if !storableText(key) || !storableText(v) {
					writeError(w, refuse(errInvalidQuery, "query parameters must be UTF-8 text without NUL characters"))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func storableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
