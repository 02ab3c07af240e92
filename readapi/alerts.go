package readapi

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// alerts lists alerts of every device, newest first; active=true keeps the
// ones not cleared.
func (a *api) alerts(w http.ResponseWriter, r *http.Request) {
	a.listAlerts(w, r, "")
}

// stationAlerts lists one station's alerts.
func (a *api) stationAlerts(w http.ResponseWriter, r *http.Request) {
	d, err := a.device(r.Context(), Station, mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	a.listAlerts(w, r, d.ID)
}

func (a *api) listAlerts(w http.ResponseWriter, r *http.Request, deviceID string) {
	q := query{vals: r.URL.Query()}
	limit := q.intIn("limit", 100, 1, 1000)
	active := false
	switch v := q.get("active"); v {
	case "", "false":
	case "true":
		active = true
	default:
		q.fail("active must be true or false, not %q", v)
	}
	if q.err != nil {
		writeError(w, q.err)
		return
	}
	list, err := a.store.Alerts(r.Context(), AlertQuery{DeviceID: deviceID, ActiveOnly: active, Limit: limit})
	if err != nil {
		writeError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, alertList{Alerts: list})
}

// deviceStatus says whether a device (station or vehicle) is sending
// measured data.
func (a *api) deviceStatus(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	st, err := a.store.DeviceStatus(r.Context(), id)
	if err != nil {
		writeError(w, refuseIf(err, domain.ErrDeviceNotFound, fmt.Sprintf("no device %q", id)))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, st)
}
