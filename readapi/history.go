package readapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// history answers a device's audit trail, oldest first; "next" pages on.
func (a *api) history(kind Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := a.device(r.Context(), kind, mux.Vars(r)["id"])
		if err != nil {
			writeError(w, err)
			return
		}
		q := query{vals: r.URL.Query()}
		limit := q.intIn("limit", 100, 1, 1000)
		after := startOfHistory
		if c := q.get("cursor"); c != "" {
			var ok bool
			if after, ok = parseHistoryCursor(c); !ok {
				q.fail("cursor is not valid")
			}
		}
		if q.err != nil {
			writeError(w, q.err)
			return
		}
		entries, err := a.store.History(r.Context(), d.ID, after, limit)
		if err != nil {
			writeError(w, err)
			return
		}
		body := historyList{History: entries}
		if len(entries) == limit {
			body.Next = entries[len(entries)-1].Cursor.String()
		}
		httpx.WriteJSON(w, http.StatusOK, body)
	}
}
