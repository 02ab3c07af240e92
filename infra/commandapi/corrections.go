package commandapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

type correctionBody struct {
	Value  *float64 `json:"value"`
	Reason string   `json:"reason"`
	Actor  string   `json:"actor"`
}

// correctMeasurement lets an operator replace a measurement's value; the
// original stays in the log and the read models follow the correction.
func (a *api) correctMeasurement(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body correctionBody
	if !a.decode(w, r, &body) || !required(w, "value", body.Value != nil) {
		return
	}
	v := mux.Vars(r)
	out, ok := a.send(w, r, &commands.CorrectMeasurement{Caller: caller, StationID: v["id"], MeasurementID: v["mid"],
		Value: *body.Value, Reason: body.Reason, Actor: body.Actor})
	if ok {
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"id": out.ID, "status": "corrected"})
	}
}

// retractMeasurement lets an operator withdraw a measurement from the read models.
func (a *api) retractMeasurement(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body correctionBody
	if !a.decode(w, r, &body) {
		return
	}
	if body.Value != nil {
		writeError(w, &domain.ValidationError{Index: -1, Field: "value", Reason: "must be left out: a retraction takes no value (a correction does)"})
		return
	}
	v := mux.Vars(r)
	out, ok := a.send(w, r, &commands.RetractMeasurement{Caller: caller, StationID: v["id"], MeasurementID: v["mid"],
		Reason: body.Reason, Actor: body.Actor})
	if ok {
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"id": out.ID, "status": "retracted"})
	}
}
