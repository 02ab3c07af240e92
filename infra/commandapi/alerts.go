package commandapi

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

type alertRuleBody struct {
	Rule  string   `json:"rule"`
	Type  string   `json:"type"`
	Above *float64 `json:"above"`
	For   string   `json:"for"` // a duration: "10m", "90s", "1h30m"; empty = at once
}

// setAlertRule lets an operator set a station's threshold rule: the alert
// is raised when the type's values stay above the threshold for the duration.
func (a *api) setAlertRule(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body alertRuleBody
	if !a.decode(w, r, &body) || !required(w, "above", body.Above != nil) {
		return
	}
	var hold time.Duration
	if body.For != "" {
		d, err := time.ParseDuration(body.For)
		if err != nil {
			writeError(w, &domain.ValidationError{Index: -1, Field: "for", Reason: "must be a duration such as 90s, 10m or 1h30m"})
			return
		}
		hold = d
	}
	id := mux.Vars(r)["id"]
	out, ok := a.send(w, r, &commands.SetAlertRule{Caller: caller, DeviceID: id, Rule: body.Rule, Type: body.Type,
		Above: *body.Above, For: hold})
	if ok {
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"id": id, "rule": out.ID, "status": "set"})
	}
}
