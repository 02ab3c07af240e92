package readapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// Errors the read API itself finds in a request, beside the Store's.
var (
	errInvalidQuery = errors.New("invalid query")
	errNoSuchPath   = errors.New("no such path")
	// errLiveOff: this server runs without commit notifications.
	errLiveOff = errors.New("live push off")
	// errLiveUnavailable: the commit listener is reconnecting.
	errLiveUnavailable = errors.New("live push unavailable")
)

// statuses maps every error a request can run into to its answer: the
// first entry the error matches wins; anything else is a 500. A refusal's
// own message replaces the default one.
var statuses = []struct {
	err     error
	status  int
	code    string
	message string
}{
	{domain.ErrUnauthenticated, http.StatusUnauthorized, domain.CodeUnauthorized, "missing or invalid key"},
	{domain.ErrForbidden, http.StatusForbidden, domain.CodeForbidden, "forbidden"},
	{errInvalidQuery, http.StatusBadRequest, "invalid_query", "invalid query"},
	{domain.ErrDeviceNotFound, http.StatusNotFound, "device_not_found", "no such device"},
	{ErrEventNotFound, http.StatusNotFound, "event_not_found", "no such event"},
	{ErrProjectionNotFound, http.StatusNotFound, "projection_not_found", "no such bucket projection"},
	{errNoSuchPath, http.StatusNotFound, "not_found", "no such path"},
	{errLiveOff, http.StatusServiceUnavailable, "unavailable", "live push is off on this server"},
	{errLiveUnavailable, http.StatusServiceUnavailable, "unavailable", "live push is unavailable; retry later"},
	{errFeedUnavailable, http.StatusServiceUnavailable, "feed_unavailable", "event feed unavailable"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable", "query timed out; retry later"},
	{domain.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "read models are unavailable; retry later"},
}

// writeError answers err with the status, code and message it maps to.
func writeError(w http.ResponseWriter, err error) {
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			message := s.message
			var r refusal
			if errors.As(err, &r) {
				message = r.message
			}
			if s.status == http.StatusUnauthorized {
				// As the command API: the client learns which scheme to use.
				w.Header().Set("WWW-Authenticate", `Bearer realm="fleetpulse"`)
			}
			httpx.WriteError(w, s.status, s.code, message)
			return
		}
	}
	httpx.WriteError(w, http.StatusInternalServerError, "internal", "internal error")
}

// refusal is a request's mistake worded for its caller: kind (one of the
// errors statuses names) picks the status, message is what the caller reads.
type refusal struct {
	kind    error
	message string
}

func refuse(kind error, format string, args ...any) error {
	return refusal{kind: kind, message: fmt.Sprintf(format, args...)}
}

func (r refusal) Error() string { return r.message }
func (r refusal) Unwrap() error { return r.kind }

// refuseIf words err for the caller when it is of kind, and returns any
// other error as it is.
func refuseIf(err, kind error, message string) error {
	if errors.Is(err, kind) {
		return refusal{kind: kind, message: message}
	}
	return err
}
