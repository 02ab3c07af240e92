package readapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// listDevices pages through stations or vehicles in id order; a full page
// names the id to pass as after for the next one.
func (a *api) listDevices(kind Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := query{vals: r.URL.Query()}
		limit := q.intIn("limit", 100, 1, 1000)
		after := q.get("after")
		if q.err != nil {
			writeError(w, q.err)
			return
		}
		devices, err := a.store.Devices(r.Context(), kind, after, limit)
		if err != nil {
			writeError(w, err)
			return
		}
		bodies := make([]deviceBody, len(devices))
		for i, d := range devices {
			bodies[i] = newDeviceBody(d)
		}
		var next string
		if len(devices) == limit {
			next = devices[len(devices)-1].ID
		}
		if kind == Station {
			httpx.WriteJSON(w, http.StatusOK, stationList{Next: next, Stations: bodies})
		} else {
			httpx.WriteJSON(w, http.StatusOK, vehicleList{Next: next, Vehicles: bodies})
		}
	}
}

// getDevice answers one station, or one vehicle with its latest readings.
func (a *api) getDevice(kind Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := a.device(r.Context(), kind, mux.Vars(r)["id"])
		if err != nil {
			writeError(w, err)
			return
		}
		body := newDeviceBody(d)
		if kind == Vehicle {
			latest, err := a.store.Latest(r.Context(), d.ID)
			if err != nil {
				writeError(w, err)
				return
			}
			body.Latest = newLatestValues(kind, latest)
		}
		httpx.WriteJSON(w, http.StatusOK, body)
	}
}

// stationLatest answers a station's newest value of each type.
func (a *api) stationLatest(w http.ResponseWriter, r *http.Request) {
	d, err := a.device(r.Context(), Station, mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	latest, err := a.store.Latest(r.Context(), d.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, stationLatest{ID: d.ID, Latest: newLatestValues(Station, latest)})
}

// device loads a device of the given kind; one of another kind is not found.
func (a *api) device(ctx context.Context, kind Kind, id string) (Device, error) {
	d, err := a.store.Device(ctx, id)
	if errors.Is(err, domain.ErrDeviceNotFound) || (err == nil && d.Kind != kind) {
		return Device{}, refuse(domain.ErrDeviceNotFound, "no %s %q", kind, id)
	}
	return d, err
}
