package commandapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/importer"
)

// Imports keeps bulk import jobs: an upload becomes a queued job, which a
// runner records in the background (infra/importer).
type Imports interface {
	Create(ctx context.Context, format importer.Format, body io.Reader) (importer.Job, error)
	Get(ctx context.Context, id string) (importer.Job, error)
}

// uploadTimeout bounds the reading and storing of one import upload: the
// API's request time limit is for commands, not for a file of a year of data.
const uploadTimeout = 30 * time.Minute

// importBody is an import job as the API shows it.
type importBody struct {
	ID         string               `json:"id"`
	State      string               `json:"state"`
	Format     importer.Format      `json:"format"`
	Bytes      int64                `json:"bytes"`
	Rows       int64                `json:"rows"`
	Accepted   int64                `json:"accepted"`
	Duplicates int64                `json:"duplicates"`
	Rejected   int64                `json:"rejected"`
	Rejections []importer.Rejection `json:"rejections"`
	NextLine   int64                `json:"next_line"`
	Failure    string               `json:"failure,omitempty"`
	Attempts   int                  `json:"attempts"`
	CreatedAt  time.Time            `json:"created_at"`
	UpdatedAt  time.Time            `json:"updated_at"`
	FinishedAt *time.Time           `json:"finished_at,omitempty"`
}

func importJSON(j importer.Job) importBody {
	rejections := j.Rejections
	if rejections == nil {
		rejections = []importer.Rejection{}
	}
	return importBody{ID: j.ID, State: j.State, Format: j.Format, Bytes: j.BodyBytes, Rows: j.Rows, Accepted: j.Accepted,
		Duplicates: j.Duplicates, Rejected: j.Rejected, Rejections: rejections, NextLine: j.NextLine, Failure: j.Failure,
		Attempts: j.Attempts, CreatedAt: j.CreatedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(), FinishedAt: j.FinishedAt}
}

// createImport streams an upload into a queued job and answers 202 with
// the job, before any row is read: its progress is at GET /v1/imports/{id}.
func (a *api) createImport(w http.ResponseWriter, r *http.Request, _ commands.Caller) {
	format, ok := importer.FormatOfContentType(r.Header.Get("Content-Type"))
	if !ok {
		httpx.WriteError(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"send the import as Content-Type text/csv, application/x-ndjson or application/vnd.apache.parquet (an archive file)")
		return
	}
	// The upload may take longer than a command: past the server's read
	// limit and the request's time limit, up to uploadTimeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(uploadTimeout))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), uploadTimeout)
	defer cancel()
	job, err := a.cfg.Imports.Create(ctx, format, http.MaxBytesReader(w, r.Body, a.cfg.MaxImportBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("the import is larger than %d bytes; split it in several", tooBig.Limit))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/imports/"+job.ID)
	httpx.WriteJSON(w, http.StatusAccepted, importJSON(job))
}

func (a *api) getImport(w http.ResponseWriter, r *http.Request, _ commands.Caller) {
	job, err := a.cfg.Imports.Get(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, importJSON(job))
}

// codeUnsupportedMedia is an upload whose Content-Type is no import format.
const codeUnsupportedMedia = "unsupported_media_type"
