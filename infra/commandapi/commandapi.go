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
}

type api struct {
	dispatch Dispatcher
	cfg      Config
}

// NewHandler returns the command API's routes, with ops endpoints.
func NewHandler(d Dispatcher, cfg Config, reg *prometheus.Registry, logger *slog.Logger, ready ...httpx.Pinger) http.Handler {
	a := &api{dispatch: d, cfg: cfg}
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(httpx.NotFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(httpx.MethodNotAllowed)
	r.Use(httpx.Instrument(reg, "command", logger, cfg.RequestTimeout))
	httpx.Ops(r, reg, ready...)

	v1 := r.PathPrefix("/v1").Subrouter()
	v1.HandleFunc("/stations", a.registerStation).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}", a.updateStation).Methods(http.MethodPut)
	v1.HandleFunc("/stations/{id}", a.decommissionStation).Methods(http.MethodDelete)
	v1.HandleFunc("/stations/{id}/token", a.rotateToken).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}/token", a.revokeToken).Methods(http.MethodDelete)
	v1.HandleFunc("/stations/{id}/measurements", a.recordMeasurements).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}/measurements/{mid}/correction", a.correctMeasurement).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}/measurements/{mid}/retraction", a.retractMeasurement).Methods(http.MethodPost)
	v1.HandleFunc("/stations/{id}/alert-rules", a.setAlertRule).Methods(http.MethodPost)
	v1.HandleFunc("/vehicles", a.registerVehicle).Methods(http.MethodPost)
	v1.HandleFunc("/vehicles/{id}", a.updateVehicle).Methods(http.MethodPut)
	v1.HandleFunc("/vehicles/{id}", a.decommissionVehicle).Methods(http.MethodDelete)
	v1.HandleFunc("/vehicles/{id}/token", a.rotateToken).Methods(http.MethodPost)
	v1.HandleFunc("/vehicles/{id}/token", a.revokeToken).Methods(http.MethodDelete)
	v1.HandleFunc("/vehicles/{id}/events", a.recordVehicleEvents).Methods(http.MethodPost)
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

func (a *api) registerStation(w http.ResponseWriter, r *http.Request) {
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
	a.sendRegistration(w, r, "/v1/stations/", "id", token, &commands.RegisterStation{Caller: a.caller(r), ID: id, Profile: p, TokenHash: hash})
}

func (a *api) registerVehicle(w http.ResponseWriter, r *http.Request) {
	var body vehicleBody
	if !a.decode(w, r, &body) {
		return
	}
	vid := orNewID(body.VID)
	token, hash := wire.NewToken(vid)
	a.sendRegistration(w, r, "/v1/vehicles/", "vid", token, &commands.RegisterVehicle{Caller: a.caller(r), VID: vid, Profile: body.VehicleProfile, TokenHash: hash})
}

func (a *api) updateStation(w http.ResponseWriter, r *http.Request) {
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
		a.sendVersioned(w, r, "id", &commands.UpdateStation{Caller: a.caller(r), ID: id, Profile: p, ExpectedVersion: expected})
	}
}

func (a *api) updateVehicle(w http.ResponseWriter, r *http.Request) {
	var body vehicleBody
	expected, ok := a.decodeUpdate(w, r, &body)
	if !ok {
		return
	}
	if vid, ok := pathID(w, r, "vid", body.VID); ok {
		a.sendVersioned(w, r, "vid", &commands.UpdateVehicle{Caller: a.caller(r), VID: vid, Profile: body.VehicleProfile, ExpectedVersion: expected})
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

func (a *api) decommissionStation(w http.ResponseWriter, r *http.Request) {
	expected, ok := ifMatch(w, r)
	if ok {
		a.sendVersioned(w, r, "id", &commands.DecommissionStation{Caller: a.caller(r), ID: mux.Vars(r)["id"], ExpectedVersion: expected})
	}
}

func (a *api) decommissionVehicle(w http.ResponseWriter, r *http.Request) {
	expected, ok := ifMatch(w, r)
	if ok {
		a.sendVersioned(w, r, "vid", &commands.DecommissionVehicle{Caller: a.caller(r), VID: mux.Vars(r)["id"], ExpectedVersion: expected})
	}
}

func (a *api) rotateToken(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	token, hash := wire.NewToken(id)
	out, ok := a.send(w, r, &commands.RotateDeviceToken{Caller: a.caller(r), DeviceID: id, TokenHash: hash})
	if ok {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": out.ID, "token": token, "version": out.Version})
	}
}

// revokeToken makes a device's token stop working at once (a stolen
// device); an operator rotates in a new one when it is safe again.
func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) {
	out, ok := a.send(w, r, &commands.RevokeDeviceToken{Caller: a.caller(r), DeviceID: mux.Vars(r)["id"]})
	if ok {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": out.ID, "version": out.Version})
	}
}

func (a *api) recordMeasurements(w http.ResponseWriter, r *http.Request) {
	var body measurementsBody
	if a.decode(w, r, &body) {
		a.record(w, r, wire.Measurements(body.Measurements))
	}
}

func (a *api) recordVehicleEvents(w http.ResponseWriter, r *http.Request) {
	var body vehicleEventsBody
	if a.decode(w, r, &body) {
		a.record(w, r, wire.VehicleEvents(body.Events))
	}
}

// record sends a device's batch for the device the path names and answers
// 201 with what was stored (and, for vehicle events, their ids).
func (a *api) record(w http.ResponseWriter, r *http.Request, batch wire.Telemetry) {
	out, ok := a.send(w, r, batch.Command(a.caller(r), mux.Vars(r)["id"]))
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
	if err := wire.Decode(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes), v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpx.WriteError(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
			return false
		}
		httpx.WriteError(w, http.StatusBadRequest, wire.CodeMalformed, err.Error())
		return false
	}
	return true
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
		httpx.WriteError(w, http.StatusBadRequest, domain.CodeInvalid, field+" is required")
	}
	return given
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
		httpx.WriteError(w, http.StatusBadRequest, domain.CodeInvalid, "If-Match must be a version number")
		return nil, false
	}
	return &v, true
}

// writeError maps domain errors to statuses: the one place for this API.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	body := httpx.ErrorBody{Error: wire.Refusal(err)}
	switch body.Error.Code {
	case domain.CodeInvalid:
		status = http.StatusBadRequest
	case domain.CodeNotFound, domain.CodeNoMeasurement:
		status = http.StatusNotFound
	case domain.CodeExists, domain.CodeConflict, domain.CodeDecommissioned:
		status = http.StatusConflict
	case domain.CodeUnauthorized:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="fleetpulse"`)
	case domain.CodeForbidden:
		status = http.StatusForbidden
	case domain.CodeUnavailable:
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	httpx.WriteJSON(w, status, body)
}
