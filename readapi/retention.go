package readapi

import (
	"net/http"
	"time"
)

// RawRetainedFromHeader says, on a raw view that reaches further back than
// the raw read models keep, from when they do (RFC 3339): the answer holds
// what is kept, and says so, rather than pretending older data never was.
const RawRetainedFromHeader = "Fleetpulse-Raw-Retained-From"

// markRetention sets RawRetainedFromHeader when from is before what the
// raw read model of vehicles (or else stations) keeps. It never fails a
// request: without an answer from the store, it says nothing.
func (a *api) markRetention(w http.ResponseWriter, r *http.Request, from time.Time, vehicles bool) {
	stations, vehicleEvents, err := a.store.RawRetainedFrom(r.Context())
	if err != nil {
		a.logger.Warn("raw retention unknown", "err", err)
		return
	}
	kept := stations
	if vehicles {
		kept = vehicleEvents
	}
	if !kept.IsZero() && from.Before(kept) {
		w.Header().Set(RawRetainedFromHeader, kept.UTC().Format(time.RFC3339))
	}
}
