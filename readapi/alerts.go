package readapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

const (
	// $1: device ('' = all), $2: active only, $3: limit.
	alertsSQL = `
SELECT device_id, rule, type, raised_at, cleared_at, value, threshold FROM rm_alerts
WHERE ($1 = '' OR device_id = $1) AND (NOT $2 OR cleared_at IS NULL)
ORDER BY raised_at DESC, device_id, rule LIMIT $3`

	// A device's presence: the silence read model, and its newest measured
	// data from the latest values.
	deviceStatusSQL = `
SELECT d.kind, s.online, s.since,
       greatest(s.last_measured_at, (SELECT max(measured_at) FROM rm_latest l WHERE l.device_id = d.device_id))
FROM rm_devices d LEFT JOIN rm_device_status s ON s.device_id = d.device_id
WHERE d.device_id = $1`
)

type alert struct {
	DeviceID  string     `json:"device_id"`
	Rule      string     `json:"rule"`
	Type      string     `json:"type"`
	RaisedAt  time.Time  `json:"raised_at"`
	ClearedAt *time.Time `json:"cleared_at"`
	Active    bool       `json:"active"`
	Value     float64    `json:"value"`
	Threshold float64    `json:"threshold"`
}

type deviceStatus struct {
	DeviceID       string     `json:"device_id"`
	Kind           string     `json:"kind"`
	Online         bool       `json:"online"`
	Since          *time.Time `json:"since"`
	LastMeasuredAt *time.Time `json:"last_measured_at"`
}

// alerts lists alerts of every device, newest first; active=true keeps the
// ones not cleared.
func (a *api) alerts(w http.ResponseWriter, r *http.Request) {
	a.listAlerts(w, r, "")
}

// stationAlerts lists one station's alerts.
func (a *api) stationAlerts(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r, "station", mux.Vars(r)["id"])
	if !ok {
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
		badRequest(w, q.err)
		return
	}
	rows, err := a.db.Query(r.Context(), alertsSQL, deviceID, active, limit)
	if err != nil {
		serverError(w, err)
		return
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (alert, error) {
		var al alert
		err := row.Scan(&al.DeviceID, &al.Rule, &al.Type, &al.RaisedAt, &al.ClearedAt, &al.Value, &al.Threshold)
		al.Active = al.ClearedAt == nil
		return al, err
	})
	if err != nil {
		serverError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"alerts": list})
}

// deviceStatus says whether a device (station or vehicle) is sending
// measured data. A device never reported silent is online once it has sent
// data.
func (a *api) deviceStatus(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	st := deviceStatus{DeviceID: id}
	var online *bool
	err := a.db.QueryRow(r.Context(), deviceStatusSQL, id).Scan(&st.Kind, &online, &st.Since, &st.LastMeasuredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		httpx.WriteError(w, http.StatusNotFound, "device_not_found", fmt.Sprintf("no device %q", id))
		return
	}
	if err != nil {
		serverError(w, err)
		return
	}
	if online != nil {
		st.Online = *online
	} else {
		st.Online = st.LastMeasuredAt != nil
	}
	httpx.WriteJSON(w, http.StatusOK, st)
}
