package commandapi

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

type readKeyBody struct {
	Name    string   `json:"name"`
	Devices []string `json:"devices"` // left out or null: every device
}

// createReadKey makes a read API key and answers it this once: only its
// hash goes into the log.
func (a *api) createReadKey(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body readKeyBody
	if !a.decode(w, r, &body) {
		return
	}
	id := uuid.Must(uuid.NewV7()).String()
	key, hash := domain.NewReadKey(id)
	out, ok := a.send(w, r, &commands.CreateReadKey{Caller: caller, KeyID: id, Name: body.Name, Devices: body.Devices, KeyHash: hash})
	if !ok {
		return
	}
	answer := map[string]any{"id": out.ID, "key": key, "name": body.Name}
	if body.Devices != nil {
		answer["devices"] = body.Devices
	}
	httpx.WriteJSON(w, http.StatusCreated, answer)
}

// revokeReadKey makes a read key stop working: the read API refuses it
// once the revocation is projected and its key cache has let it go.
func (a *api) revokeReadKey(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	if _, ok := a.send(w, r, &commands.RevokeReadKey{Caller: caller, KeyID: mux.Vars(r)["id"]}); ok {
		w.WriteHeader(http.StatusNoContent)
	}
}
