// Package commandapi is the HTTP command API devices and operators write
// through: it authenticates, decodes and sends one command per request, and
// answers with the handler's real outcome. Decoding, tokens, refusal bodies
// and the Dispatcher port are infra/wire's, shared with the MQTT bridge;
// this package maps them to routes, statuses and headers.
package commandapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/importer"
	"github.com/fleetpulse/fleetpulse/infra/wire"
)

// Dispatcher sends a command and returns its handler's outcome: the port
// the MQTT bridge sends through too.
type Dispatcher = wire.Dispatcher

// Config holds the command API's limits and secrets.
type Config struct {
	AdminToken     string
	MaxBodyBytes   int64
	RequestTimeout time.Duration
	// DeviceLimiter, if set, bounds each device's telemetry requests.
	DeviceLimiter *httpx.DeviceRateLimiter
	// Imports, if set, takes bulk import uploads of at most MaxImportBytes
	// (POST /v1/imports); without it the import routes answer 503.
	Imports        Imports
	MaxImportBytes int64
	// Webhooks, if set, serves GET /v1/webhooks/{id}/deliveries (503 without).
	Webhooks WebhookLog
}

type api struct {
	dispatch Dispatcher
	cfg      Config
}

// NewHandler returns the command API's routes, with ops endpoints.
func NewHandler(d Dispatcher, cfg Config, reg *prometheus.Registry, logger *slog.Logger, ready ...httpx.Pinger) http.Handler {
	a := &api{dispatch: d, cfg: cfg}
	r := mux.NewRouter()
	httpx.AnswerUnmatched(r)
	r.Use(httpx.Instrument(reg, "command", logger, cfg.RequestTimeout))
	httpx.Ops(r, reg, ready...)

	// Every write route authenticates its caller before it reads the body:
	// operator routes through a.operator, telemetry through a.device.
	v1 := r.PathPrefix("/v1").Subrouter()
	v1.HandleFunc("/stations", a.operator(a.registerStation)).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}", a.operator(a.updateStation)).Methods(http.MethodPut)
	v1.HandleFunc("/stations/{id}", a.operator(a.decommissionStation)).Methods(http.MethodDelete)
	v1.HandleFunc("/stations/{id}/token", a.operator(a.rotateToken)).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}/token", a.operator(a.revokeToken)).Methods(http.MethodDelete)
	v1.HandleFunc("/stations/{id}/measurements", a.device(a.recordMeasurements)).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}/measurements/{mid}/correction", a.operator(a.correctMeasurement)).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}/measurements/{mid}/retraction", a.operator(a.retractMeasurement)).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}/alert-rules", a.operator(a.setAlertRule)).Methods(http.MethodPost)
	v1.HandleFunc("/vehicles", a.operator(a.registerVehicle)).Methods(http.MethodPost)
	v1.HandleFunc("/vehicles/{id}", a.operator(a.updateVehicle)).Methods(http.MethodPut)
	v1.HandleFunc("/vehicles/{id}", a.operator(a.decommissionVehicle)).Methods(http.MethodDelete)
	v1.HandleFunc("/vehicles/{id}/token", a.operator(a.rotateToken)).Methods(http.MethodPost)
	v1.HandleFunc("/vehicles/{id}/token", a.operator(a.revokeToken)).Methods(http.MethodDelete)
	v1.HandleFunc("/vehicles/{id}/events", a.device(a.recordVehicleEvents)).Methods(http.MethodPost)
	v1.HandleFunc("/read-keys", a.operator(a.createReadKey)).Methods(http.MethodPost)
	v1.HandleFunc("/read-keys/{id}", a.operator(a.revokeReadKey)).Methods(http.MethodDelete)
	v1.HandleFunc("/imports", a.operator(a.importsOn(a.createImport))).Methods(http.MethodPost)
	v1.HandleFunc("/imports/{id}", a.operator(a.importsOn(a.getImport))).Methods(http.MethodGet)
	v1.HandleFunc("/webhooks", a.operator(a.registerWebhook)).Methods(http.MethodPost)
	v1.HandleFunc("/webhooks", a.operator(a.listWebhooks)).Methods(http.MethodGet)
	v1.HandleFunc("/webhooks/{id}", a.operator(a.removeWebhook)).Methods(http.MethodDelete)
	v1.HandleFunc("/webhooks/{id}/enable", a.operator(a.enableWebhook)).Methods(http.MethodPost)
	v1.HandleFunc("/webhooks/{id}/deliveries", a.operator(a.webhookDeliveries)).Methods(http.MethodGet)
	if cfg.DeviceLimiter != nil {
		v1.Use(cfg.DeviceLimiter.Middleware(telemetryDevice))
	}

	// The API's own description.
	httpx.APIDocs(r, openAPI)
	return r
}

// telemetryDevice names the device a telemetry request writes to, for rate
// limiting; operators' routes are not limited.
func telemetryDevice(r *http.Request) string {
	if strings.HasSuffix(r.URL.Path, "/measurements") || strings.HasSuffix(r.URL.Path, "/events") {
		return mux.Vars(r)["id"]
	}
	return ""
}

// --- request bodies --------------------------------------------------------

type stationBody struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	Location *domain.Location `json:"location"`
	TimeZone string           `json:"timezone"`
}

func (b stationBody) profile() (domain.StationProfile, error) {
	if b.Location == nil {
		return domain.StationProfile{}, &domain.ValidationError{Index: -1, Field: "location", Reason: "is required"}
	}
	return domain.StationProfile{Name: b.Name, Location: *b.Location, TimeZone: b.TimeZone}, nil
}

type vehicleBody struct {
	VID string `json:"vid"`
	domain.VehicleProfile
}

type measurementsBody struct {
	Measurements []domain.Measurement `json:"measurements"`
}

type vehicleEventsBody struct {
	Events []domain.VehicleEvent `json:"events"`
}

// --- handlers: decode, send one command, encode ------------------------------

func (a *api) registerStation(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body stationBody
	if !a.decode(w, r, &body) {
		return
	}
	p, err := body.profile()
	if err != nil {
		writeError(w, err)
		return
	}
	id := orNewID(body.ID)
	token, hash := wire.NewToken(id)
	a.sendRegistration(w, r, "/v1/stations/", "id", token, &commands.RegisterStation{Caller: caller, ID: id, Profile: p, TokenHash: hash})
}

func (a *api) registerVehicle(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body vehicleBody
	if !a.decode(w, r, &body) {
		return
	}
	vid := orNewID(body.VID)
	token, hash := wire.NewToken(vid)
	a.sendRegistration(w, r, "/v1/vehicles/", "vid", token, &commands.RegisterVehicle{Caller: caller, VID: vid, Profile: body.VehicleProfile, TokenHash: hash})
}

func (a *api) updateStation(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body stationBody
	expected, ok := a.decodeUpdate(w, r, &body)
	if !ok {
		return
	}
	p, err := body.profile()
	if err != nil {
		writeError(w, err)
		return
	}
	if id, ok := pathID(w, r, "id", body.ID); ok {
		a.sendVersioned(w, r, "id", &commands.UpdateStation{Caller: caller, ID: id, Profile: p, ExpectedVersion: expected})
	}
}

func (a *api) updateVehicle(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body vehicleBody
	expected, ok := a.decodeUpdate(w, r, &body)
	if !ok {
		return
	}
	if vid, ok := pathID(w, r, "vid", body.VID); ok {
		a.sendVersioned(w, r, "vid", &commands.UpdateVehicle{Caller: caller, VID: vid, Profile: body.VehicleProfile, ExpectedVersion: expected})
	}
}

// pathID is the device id the path names; a body may repeat it in
// idField, but not name another device.
func pathID(w http.ResponseWriter, r *http.Request, idField, inBody string) (string, bool) {
	id := mux.Vars(r)["id"]
	if inBody != "" && inBody != id {
		writeError(w, &domain.ValidationError{Index: -1, Field: idField, Reason: "must match the path or be omitted"})
		return "", false
	}
	return id, true
}

func (a *api) decommissionStation(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	expected, ok := ifMatch(w, r)
	if ok {
		a.sendVersioned(w, r, "id", &commands.DecommissionStation{Caller: caller, ID: mux.Vars(r)["id"], ExpectedVersion: expected})
	}
}

func (a *api) decommissionVehicle(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	expected, ok := ifMatch(w, r)
	if ok {
		a.sendVersioned(w, r, "vid", &commands.DecommissionVehicle{Caller: caller, VID: mux.Vars(r)["id"], ExpectedVersion: expected})
	}
}

func (a *api) rotateToken(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	id := mux.Vars(r)["id"]
	token, hash := wire.NewToken(id)
	out, ok := a.send(w, r, &commands.RotateDeviceToken{Caller: caller, DeviceID: id, TokenHash: hash})
	if ok {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": out.ID, "token": token, "version": out.Version})
	}
}

// revokeToken makes a device's token stop working at once (a stolen
// device); an operator rotates in a new one when it is safe again.
func (a *api) revokeToken(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	out, ok := a.send(w, r, &commands.RevokeDeviceToken{Caller: caller, DeviceID: mux.Vars(r)["id"]})
	if ok {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": out.ID, "version": out.Version})
	}
}

func (a *api) recordMeasurements(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body measurementsBody
	if a.decodeTelemetry(w, r, caller, &body, wire.Measurements(nil)) {
		a.record(w, r, caller, wire.Measurements(body.Measurements))
	}
}

func (a *api) recordVehicleEvents(w http.ResponseWriter, r *http.Request, caller commands.Caller) {
	var body vehicleEventsBody
	if a.decodeTelemetry(w, r, caller, &body, wire.VehicleEvents(nil)) {
		a.record(w, r, caller, wire.VehicleEvents(body.Events))
	}
}

// record sends a device's batch for the device the path names and answers
// 201 with what was stored (and, for vehicle events, their ids).
func (a *api) record(w http.ResponseWriter, r *http.Request, caller commands.Caller, batch wire.Telemetry) {
	out, ok := a.send(w, r, batch.Command(caller, mux.Vars(r)["id"]))
	if !ok {
		return
	}
	stored := map[string]any{"accepted": out.Accepted, "duplicates": out.Duplicates}
	if _, events := batch.(wire.VehicleEvents); events {
		stored["eids"] = out.EIDs
	}
	httpx.WriteJSON(w, http.StatusCreated, stored)
}

// --- plumbing ----------------------------------------------------------------

func (a *api) send(w http.ResponseWriter, r *http.Request, cmd any) (commands.Outcome, bool) {
	out, err := a.dispatch.Dispatch(r.Context(), cmd)
	if err != nil {
		writeError(w, err)
		return out, false
	}
	return out, true
}

func (a *api) sendVersioned(w http.ResponseWriter, r *http.Request, idField string, cmd any) {
	out, ok := a.send(w, r, cmd)
	if ok {
		w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(out.Version, 10)))
		httpx.WriteJSON(w, http.StatusOK, map[string]any{idField: out.ID, "version": out.Version})
	}
}

// sendRegistration registers a device and answers with where it lives, its
// token (shown this once: only its hash is stored) and its version.
func (a *api) sendRegistration(w http.ResponseWriter, r *http.Request, collection, idField, token string, cmd any) {
	out, ok := a.send(w, r, cmd)
	if ok {
		w.Header().Set("Location", collection+out.ID)
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{idField: out.ID, "token": token, "version": out.Version})
	}
}

// decode reads one JSON object from a size-limited body into v, rejecting
// unknown fields and trailing data.
func (a *api) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := a.read(w, r, v); err != nil {
		writeBodyError(w, err)
		return false
	}
	return true
}

func (a *api) read(w http.ResponseWriter, r *http.Request, v any) error {
	return wire.Decode(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes), v)
}

// writeBodyError answers a body Decode refused: 413 naming the limit, or
// 400 naming the value and the form it must have.
func writeBodyError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge,
			fmt.Sprintf("the request body is larger than %d bytes; send smaller batches", tooBig.Limit))
		return
	}
	httpx.WriteJSON(w, http.StatusBadRequest, httpx.ErrorBody{Error: wire.Refusal(err)})
}

// decodeTelemetry decodes a device's batch. A body that does not decode
// from a caller who is not the operator is refused only once the caller is
// authenticated: the route's command with an empty batch, whose handler
// authenticates before it validates (and stores nothing empty), tells a
// forged token (401) and another device (403) from the device itself.
func (a *api) decodeTelemetry(w http.ResponseWriter, r *http.Request, caller commands.Caller, v any, empty wire.Telemetry) bool {
	err := a.read(w, r, v)
	if err == nil {
		return true
	}
	if !caller.Admin {
		_, authErr := a.dispatch.Dispatch(r.Context(), empty.Command(caller, mux.Vars(r)["id"]))
		switch domain.Code(authErr) {
		case domain.CodeUnauthorized, domain.CodeForbidden, domain.CodeUnavailable:
			writeError(w, authErr)
			return false
		}
	}
	writeBodyError(w, err)
	return false
}

// decodeUpdate reads an update: its body into v, and the version it
// expects from If-Match.
func (a *api) decodeUpdate(w http.ResponseWriter, r *http.Request, v any) (expected *int64, ok bool) {
	if !a.decode(w, r, v) {
		return nil, false
	}
	return ifMatch(w, r)
}

// required answers 400 when a body leaves out a field the command needs.
func required(w http.ResponseWriter, field string, given bool) bool {
	if !given {
		writeError(w, &domain.ValidationError{Index: -1, Field: field, Reason: "is required"})
	}
	return given
}

// operator wraps a route only the operator may call. Any other caller is
// refused before its body is read: without a token of a known form at once
// (401); with a device's token by the command side, which alone can tell a
// forged one (401) from a device's own (403). It is asked with a
// registration that names nothing: its handler refuses a caller who is not
// the operator before it looks at anything else, and could store nothing.
func (a *api) operator(h func(http.ResponseWriter, *http.Request, commands.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller := a.caller(r)
		switch {
		case caller.Admin:
			h(w, r, caller)
		case caller.DeviceID == "":
			writeError(w, domain.ErrUnauthenticated)
		default:
			_, err := a.dispatch.Dispatch(r.Context(), &commands.RegisterStation{Caller: caller})
			if err == nil || domain.Code(err) == domain.CodeInvalid || domain.Code(err) == domain.CodeForbidden {
				err = errOperatorOnly // invalid: only the operator gets that far
			}
			writeError(w, err)
		}
	}
}

// codeImportNotFound is a GET of an import job id no job has.
const codeImportNotFound = "import_not_found"

var errOperatorOnly = domain.ErrorFromCode(domain.CodeForbidden, "only the operator may call this route, not a device")

// device wraps a device's telemetry route: a request without a token of a
// known form is refused at once (401); the command handler authenticates
// the others (see decodeTelemetry for a body that does not decode).
func (a *api) device(h func(http.ResponseWriter, *http.Request, commands.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller := a.caller(r)
		if !caller.Admin && caller.DeviceID == "" {
			writeError(w, domain.ErrUnauthenticated)
			return
		}
		h(w, r, caller)
	}
}

// caller reads the bearer token.
func (a *api) caller(r *http.Request) commands.Caller {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return commands.Caller{}
	}
	return wire.CallerFromToken(token, a.cfg.AdminToken)
}

func orNewID(id string) string {
	if id != "" {
		return id
	}
	return uuid.Must(uuid.NewV7()).String()
}

// ifMatch reads an optional If-Match version ("3" or 3).
func ifMatch(w http.ResponseWriter, r *http.Request) (*int64, bool) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return nil, true
	}
	h = strings.TrimPrefix(h, "W/")
	if uq, err := strconv.Unquote(h); err == nil {
		h = uq
	}
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil || v < 0 {
		writeError(w, &domain.ValidationError{Index: -1, Field: "If-Match", Reason: `must be a version number such as "3" (the ETag of the last answer)`})
		return nil, false
	}
	return &v, true
}

// importsOn answers 503 on the import routes of an API without imports.
func (a *api) importsOn(h func(http.ResponseWriter, *http.Request, commands.Caller)) func(http.ResponseWriter, *http.Request, commands.Caller) {
	return func(w http.ResponseWriter, r *http.Request, c commands.Caller) {
		if a.cfg.Imports == nil {
			httpx.WriteError(w, http.StatusServiceUnavailable, domain.CodeUnavailable, "imports are off here (FLEETPULSE_IMPORT_JOBS=false)")
			return
		}
		h(w, r, c)
	}
}

// writeError maps domain errors to statuses: the one place for this API.
func writeError(w http.ResponseWriter, err error) {
	if errors.Is(err, importer.ErrJobNotFound) {
		httpx.WriteError(w, http.StatusNotFound, codeImportNotFound, err.Error())
		return
	}
	status := http.StatusInternalServerError
	body := httpx.ErrorBody{Error: wire.Refusal(err)}
	switch body.Error.Code {
	case domain.CodeInvalid:
		status = http.StatusBadRequest
	case domain.CodeNotFound, domain.CodeNoMeasurement, domain.CodeReadKeyNotFound, domain.CodeNoWebhook:
		status = http.StatusNotFound
	case domain.CodeExpired:
		status = http.StatusGone
	case domain.CodeExists, domain.CodeConflict, domain.CodeDecommissioned:
		status = http.StatusConflict
	case domain.CodeUnauthorized:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="fleetpulse"`)
		body.Error.Message = "missing or invalid token: send the header Authorization: Bearer <token>"
	case domain.CodeForbidden:
		status = http.StatusForbidden
	case domain.CodeUnavailable:
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	httpx.WriteJSON(w, status, body)
}
