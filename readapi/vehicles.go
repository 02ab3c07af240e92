package readapi

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// vehicleEvents pages through a vehicle's events newest first; "next" is an
// opaque cursor for the page after.
func (a *api) vehicleEvents(w http.ResponseWriter, r *http.Request) {
	d, err := a.device(r.Context(), Vehicle, mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	q := query{vals: r.URL.Query()}
	to := q.time("to", a.clock().Add(24*time.Hour))
	from := q.time("from", time.Unix(0, 0))
	typ := ""
	if q.get("type") != "" {
		typ = q.name("type")
	}
	limit := q.intIn("limit", 100, 1, 1000)
	before := startOfEvents(to)
	if c := q.get("cursor"); c != "" && q.err == nil {
		var ok bool
		if before, ok = parseEventCursor(c); !ok {
			q.fail("cursor is not valid")
		}
	}
	if q.err != nil {
		writeError(w, q.err)
		return
	}
	events, err := a.store.VehicleEvents(r.Context(), VehicleEventQuery{VehicleID: d.ID, From: from, To: to, Type: typ, Before: before, Limit: limit})
	if err != nil {
		writeError(w, err)
		return
	}
	a.markRetention(w, r, from, true)
	body := eventList{Events: events}
	if len(events) == limit {
		last := events[len(events)-1]
		body.Next = EventCursor{At: last.OccurredAt, EID: last.EID}.String()
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

// vehicleEvent answers one event of a vehicle.
func (a *api) vehicleEvent(w http.ResponseWriter, r *http.Request) {
	d, err := a.device(r.Context(), Vehicle, mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	e, err := a.store.VehicleEvent(r.Context(), d.ID, mux.Vars(r)["eid"])
	if err != nil {
		writeError(w, refuseIf(err, ErrEventNotFound, "no such event for this vehicle"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, e)
}
