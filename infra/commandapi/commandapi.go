// Package commandapi is the HTTP command API devices and operators write
// through: it authenticates, decodes and sends one command per request, and
// answers with the handler's real outcome.
package commandapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
)

// Dispatcher sends a command and returns its handler's outcome.
type Dispatcher interface {
	Dispatch(ctx context.Context, cmd any) (commands.Outcome, error)
}

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
	cmd := &commands.RegisterStation{Caller: a.caller(r), ID: orNewID(body.ID), Profile: p}
	token, hash := newToken(cmd.ID)
	cmd.TokenHash = hash
	out, ok := a.send(w, r, cmd)
	if ok {
		w.Header().Set("Location", "/v1/stations/"+out.ID)
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"id": out.ID, "token": token, "version": out.Version})
	}
}

func (a *api) registerVehicle(w http.ResponseWriter, r *http.Request) {
	var body vehicleBody
	if !a.decode(w, r, &body) {
		return
	}
	cmd := &commands.RegisterVehicle{Caller: a.caller(r), VID: orNewID(body.VID), Profile: body.VehicleProfile}
	token, hash := newToken(cmd.VID)
	cmd.TokenHash = hash
	out, ok := a.send(w, r, cmd)
	if ok {
		w.Header().Set("Location", "/v1/vehicles/"+out.ID)
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"vid": out.ID, "token": token, "version": out.Version})
	}
}

func (a *api) updateStation(w http.ResponseWriter, r *http.Request) {
	var body stationBody
	if !a.decode(w, r, &body) {
		return
	}
	expected, ok := ifMatch(w, r)
	if !ok {
		return
	}
	p, err := body.profile()
	if err != nil {
		writeError(w, err)
		return
	}
	id := mux.Vars(r)["id"]
	if body.ID != "" && body.ID != id {
		writeError(w, &domain.ValidationError{Index: -1, Field: "id", Reason: "must match the path or be omitted"})
		return
	}
	a.sendVersioned(w, r, "id", &commands.UpdateStation{Caller: a.caller(r), ID: id, Profile: p, ExpectedVersion: expected})
}

func (a *api) updateVehicle(w http.ResponseWriter, r *http.Request) {
	var body vehicleBody
	if !a.decode(w, r, &body) {
		return
	}
	expected, ok := ifMatch(w, r)
	if !ok {
		return
	}
	vid := mux.Vars(r)["id"]
	if body.VID != "" && body.VID != vid {
		writeError(w, &domain.ValidationError{Index: -1, Field: "vid", Reason: "must match the path or be omitted"})
		return
	}
	a.sendVersioned(w, r, "vid", &commands.UpdateVehicle{Caller: a.caller(r), VID: vid, Profile: body.VehicleProfile, ExpectedVersion: expected})
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
	token, hash := newToken(id)
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
	if !a.decode(w, r, &body) {
		return
	}
	out, ok := a.send(w, r, &commands.RecordMeasurements{Caller: a.caller(r), StationID: mux.Vars(r)["id"], Measurements: body.Measurements})
	if ok {
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"accepted": out.Accepted, "duplicates": out.Duplicates})
	}
}

func (a *api) recordVehicleEvents(w http.ResponseWriter, r *http.Request) {
	var body vehicleEventsBody
	if !a.decode(w, r, &body) {
		return
	}
	out, ok := a.send(w, r, &commands.RecordVehicleEvents{Caller: a.caller(r), VID: mux.Vars(r)["id"], Events: body.Events})
	if ok {
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"accepted": out.Accepted, "duplicates": out.Duplicates, "eids": out.EIDs})
	}
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

// decode reads one JSON object from a size-limited body into v, rejecting
// unknown fields and trailing data.
func (a *api) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := Decode(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes), v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpx.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
			return false
		}
		httpx.WriteError(w, http.StatusBadRequest, "malformed_json", err.Error())
		return false
	}
	return true
}

// Decode reads exactly one JSON value from body into v. It is the decoder
// every request body goes through (and the one the fuzz test drives).
func Decode(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return errors.New("invalid JSON body: unexpected data after the JSON object")
	}
	return nil
}

// caller reads the bearer token.
func (a *api) caller(r *http.Request) commands.Caller {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return commands.Caller{}
	}
	return CallerFromToken(token, a.cfg.AdminToken)
}

// CallerFromToken says who a token belongs to: the operator when it is
// adminToken, else the device of "<device id>.<secret>", of which only the
// hash travels on. Any other token is an anonymous caller.
func CallerFromToken(token, adminToken string) commands.Caller {
	if token == "" {
		return commands.Caller{}
	}
	if adminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(adminToken)) == 1 {
		return commands.Caller{Admin: true}
	}
	i := strings.LastIndexByte(token, '.')
	if i <= 0 {
		return commands.Caller{}
	}
	return commands.Caller{DeviceID: token[:i], TokenHash: HashSecret(token[i+1:])}
}

// HashSecret is how a device token's secret is stored.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// newToken makes a device token "<id>.<secret>" and the hash that is stored.
func newToken(id string) (token string, hash []byte) {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms
	secret := base64.RawURLEncoding.EncodeToString(buf)
	return id + "." + secret, HashSecret(secret)
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
	code := domain.Code(err)
	msg := err.Error()
	switch code {
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
		msg = "the event store is unavailable or the request timed out; retry later"
	default:
		msg = "internal error"
	}
	body := httpx.ErrorBody{Error: httpx.ErrorDetail{Code: code, Message: msg}}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		body.Error.Field = ve.Field
		if ve.Index >= 0 {
			idx := ve.Index
			body.Error.Index = &idx
		}
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	httpx.WriteJSON(w, status, body)
}
