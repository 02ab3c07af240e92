// Package readapi is the query HTTP API dashboards read: stations,
// vehicles, raw points, daily aggregates, latest values and vehicle events,
// all served from the read-model tables that projectors maintain. It never
// touches the event store or the command side.
package readapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/readapi/dashboard"
)

// Config holds the read API's limits.
type Config struct {
	RequestTimeout time.Duration
	// MaxPoints bounds one raw-points answer (default 100,000).
	MaxPoints int
}

type api struct {
	db    *pgxpool.Pool
	cfg   Config
	clock func() time.Time
}

// NewHandler returns the read API's routes, with ops endpoints.
func NewHandler(db *pgxpool.Pool, cfg Config, clock func() time.Time, reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	if cfg.MaxPoints <= 0 {
		cfg.MaxPoints = 100_000
	}
	a := &api{db: db, cfg: cfg, clock: clock}
	r := mux.NewRouter()
	httpx.AnswerUnmatched(r)
	r.Use(httpx.Instrument(reg, "read", logger, cfg.RequestTimeout))
	httpx.Ops(r, reg, db.Ping)

	v1 := r.PathPrefix("/v1").Subrouter()
	v1.Use(refuseUnstorableText)
	v1.HandleFunc("/stations", a.listDevices("station", "stations")).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}", a.getDevice("station")).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements", a.stationPoints).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/daily", a.stationDaily).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/hourly", a.stationHourly).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/buckets/{projection}", a.stationBuckets).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/latest", a.stationLatest).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/history", a.history("station")).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/export", a.export).Methods(http.MethodGet)
	v1.HandleFunc("/measurements", a.dashboard).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles", a.listDevices("vehicle", "vehicles")).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}", a.getDevice("vehicle")).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/events", a.vehicleEvents).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/events/{eid}", a.vehicleEvent).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/readings/daily", a.vehicleDaily).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/history", a.history("vehicle")).Methods(http.MethodGet)
	v1.HandleFunc("/alerts", a.alerts).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/alerts", a.stationAlerts).Methods(http.MethodGet)
	v1.HandleFunc("/devices/{id}/status", a.deviceStatus).Methods(http.MethodGet)

	// The API's own description, and the dashboard (static, embedded).
	httpx.APIDocs(r, openAPI)
	dash := dashboard.Handler()
	r.Handle("/", dash).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/dashboard/").Handler(http.StripPrefix("/dashboard", dash)).Methods(http.MethodGet, http.MethodHead)
	return r
}

// --- response shapes ----------------------------------------------------------

type location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

type device struct {
	ID             string    `json:"id,omitempty"`
	VID            string    `json:"vid,omitempty"`
	Name           string    `json:"name"`
	Location       *location `json:"location,omitempty"`
	TimeZone       string    `json:"timezone"`
	VIN            string    `json:"vin,omitempty"`
	Plate          string    `json:"plate,omitempty"`
	Model          string    `json:"model,omitempty"`
	Version        int64     `json:"version"`
	Decommissioned bool      `json:"decommissioned"`
	RegisteredAt   time.Time `json:"registered_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	Latest         []latest  `json:"latest,omitempty"`

	kind string
	zone *time.Location
}

type point struct {
	MeasuredAt time.Time `json:"measured_at"`
	Value      float64   `json:"value"`
}

type day struct {
	Day   string  `json:"day"`
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Avg   float64 `json:"avg"`
	Sum   float64 `json:"sum"`
}

type latest struct {
	Type       string    `json:"type,omitempty"`
	Name       string    `json:"name,omitempty"`
	Value      float64   `json:"value"`
	MeasuredAt time.Time `json:"measured_at"`
}

type vehicleEvent struct {
	EID        string          `json:"eid"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Readings   json.RawMessage `json:"readings,omitempty"`
	Location   *location       `json:"location,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// --- handlers -------------------------------------------------------------------

func (a *api) listDevices(kind, field string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := query{vals: r.URL.Query()}
		limit := q.intIn("limit", 100, 1, 1000)
		after := q.get("after")
		if q.err != nil {
			badRequest(w, q.err)
			return
		}
		rows, err := a.db.Query(r.Context(), listDevicesSQL, kind, after, limit)
		if err != nil {
			serverError(w, err)
			return
		}
		devices, err := pgx.CollectRows(rows, scanDevice)
		if err != nil {
			serverError(w, err)
			return
		}
		body := map[string]any{field: devices}
		if len(devices) == limit {
			last := devices[len(devices)-1]
			body["next"] = last.ID + last.VID
		}
		httpx.WriteJSON(w, http.StatusOK, body)
	}
}

func (a *api) getDevice(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, ok := a.device(w, r, kind, mux.Vars(r)["id"])
		if !ok {
			return
		}
		if kind == "vehicle" {
			l, err := a.latest(r.Context(), d.VID, false)
			if err != nil {
				serverError(w, err)
				return
			}
			d.Latest = l
		}
		httpx.WriteJSON(w, http.StatusOK, d)
	}
}

func (a *api) stationPoints(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r, "station", mux.Vars(r)["id"])
	if !ok {
		return
	}
	q := query{vals: r.URL.Query()}
	typ := q.name("type")
	to := q.time("to", a.clock())
	from := q.time("from", to.Add(-24*time.Hour))
	limit := q.intIn("limit", a.cfg.MaxPoints, 1, a.cfg.MaxPoints)
	if q.err == nil && !from.Before(to) {
		q.err = errors.New("from must be before to")
	}
	if q.err != nil {
		badRequest(w, q.err)
		return
	}
	a.writePoints(w, r, d.ID, typ, from, to, limit, nil)
}

func (a *api) writePoints(w http.ResponseWriter, r *http.Request, id, typ string, from, to time.Time, limit int, extra map[string]any) {
	rows, err := a.db.Query(r.Context(), pointsSQL, id, typ, from, to, limit+1)
	if err != nil {
		serverError(w, err)
		return
	}
	points := make([]point, 0, 256)
	var p point
	_, err = pgx.ForEachRow(rows, []any{&p.MeasuredAt, &p.Value}, func() error {
		p.MeasuredAt = p.MeasuredAt.UTC()
		points = append(points, p)
		return nil
	})
	if err != nil {
		serverError(w, err)
		return
	}
	body := map[string]any{}
	for k, v := range extra {
		body[k] = v
	}
	if len(points) > limit {
		points = points[:limit]
		body["truncated"] = true
	}
	body["points"] = points
	httpx.WriteJSON(w, http.StatusOK, body)
}

func (a *api) stationDaily(w http.ResponseWriter, r *http.Request) {
	a.daily(w, r, "station", "type")
}

func (a *api) vehicleDaily(w http.ResponseWriter, r *http.Request) {
	a.daily(w, r, "vehicle", "name")
}

// daily answers daily aggregates; days default to the last 365 in the
// device's own zone.
func (a *api) daily(w http.ResponseWriter, r *http.Request, kind, nameParam string) {
	d, ok := a.device(w, r, kind, mux.Vars(r)["id"])
	if !ok {
		return
	}
	q := query{vals: r.URL.Query()}
	name := q.name(nameParam)
	today := dateOf(a.clock().In(d.zone))
	to := q.date("to", today)
	from := q.date("from", to.AddDate(0, 0, -364))
	if q.err == nil && to.Before(from) {
		q.err = errors.New("from must not be after to")
	}
	if q.err == nil && to.Sub(from) > 20*366*24*time.Hour {
		q.err = errors.New("at most 20 years of days at once")
	}
	var asOf time.Time
	if kind == "station" && q.get("as_of") != "" {
		asOf = q.time("as_of", time.Time{})
	}
	if q.err != nil {
		badRequest(w, q.err)
		return
	}
	if !asOf.IsZero() {
		a.writeDailyAsOf(w, r, d, name, from, to, asOf)
		return
	}
	a.writeDaily(w, r, d.ID+d.VID, name, from, to, nil)
}

func (a *api) writeDaily(w http.ResponseWriter, r *http.Request, id, name string, from, to time.Time, extra map[string]any) {
	rows, err := a.db.Query(r.Context(), dailySQL, id, name, from, to)
	if err != nil {
		serverError(w, err)
		return
	}
	days, err := collectDays(rows)
	if err != nil {
		serverError(w, err)
		return
	}
	body := map[string]any{"days": days}
	for k, v := range extra {
		body[k] = v
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

// collectDays reads (day, count, sum, min, max) rows.
func collectDays(rows pgx.Rows) ([]day, error) {
	days := make([]day, 0, 366)
	var (
		dt time.Time
		dd day
	)
	_, err := pgx.ForEachRow(rows, []any{&dt, &dd.Count, &dd.Sum, &dd.Min, &dd.Max}, func() error {
		dd.Day = dt.Format(time.DateOnly)
		dd.Avg = dd.Sum / float64(dd.Count)
		days = append(days, dd)
		return nil
	})
	return days, err
}

func (a *api) stationLatest(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r, "station", mux.Vars(r)["id"])
	if !ok {
		return
	}
	l, err := a.latest(r.Context(), d.ID, true)
	if err != nil {
		serverError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": d.ID, "latest": l})
}

func (a *api) latest(ctx context.Context, id string, asType bool) ([]latest, error) {
	rows, err := a.db.Query(ctx, latestSQL, id)
	if err != nil {
		return nil, err
	}
	out := []latest{}
	var (
		name string
		l    latest
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &l.Value, &l.MeasuredAt}, func() error {
		l.MeasuredAt = l.MeasuredAt.UTC()
		if asType {
			l.Type, l.Name = name, ""
		} else {
			l.Type, l.Name = "", name
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// dashboard is the seed system's query: raw points for up to 7 days, daily
// rows beyond.
func (a *api) dashboard(w http.ResponseWriter, r *http.Request) {
	q := query{vals: r.URL.Query()}
	station := q.get("station")
	if station == "" && q.err == nil {
		q.err = errors.New("station is required")
	}
	typ := q.name("type")
	n := q.intIn("days", 1, 1, 3660)
	if q.err != nil {
		badRequest(w, q.err)
		return
	}
	d, ok := a.device(w, r, "station", station)
	if !ok {
		return
	}
	extra := map[string]any{"station": d.ID, "type": typ, "range_days": n}
	if n <= 7 {
		to := a.clock()
		extra["resolution"] = "raw"
		a.writePoints(w, r, d.ID, typ, to.Add(-time.Duration(n)*24*time.Hour), to, a.cfg.MaxPoints, extra)
		return
	}
	today := dateOf(a.clock().In(d.zone))
	extra["resolution"] = "daily"
	a.writeDaily(w, r, d.ID, typ, today.AddDate(0, 0, -(n-1)), today, extra)
}

// vehicleEvents pages newest first; "next" is an opaque cursor for the page after.
func (a *api) vehicleEvents(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r, "vehicle", mux.Vars(r)["id"])
	if !ok {
		return
	}
	q := query{vals: r.URL.Query()}
	to := q.time("to", a.clock().Add(24*time.Hour))
	from := q.time("from", time.Unix(0, 0))
	typ := ""
	if q.get("type") != "" {
		typ = q.name("type")
	}
	limit := q.intIn("limit", 100, 1, 1000)
	beforeAt, beforeEID := to, "\U0010FFFF"
	if c := q.get("cursor"); c != "" && q.err == nil {
		beforeAt, beforeEID, q.err = decodeCursor(c)
	}
	if q.err != nil {
		badRequest(w, q.err)
		return
	}
	rows, err := a.db.Query(r.Context(), vehicleEventsSQL, d.VID, from, to, typ, beforeAt, beforeEID, limit)
	if err != nil {
		serverError(w, err)
		return
	}
	events, err := pgx.CollectRows(rows, scanVehicleEvent)
	if err != nil {
		serverError(w, err)
		return
	}
	body := map[string]any{"events": events}
	if len(events) == limit {
		last := events[len(events)-1]
		body["next"] = encodeCursor(last.OccurredAt, last.EID)
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

func (a *api) vehicleEvent(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r, "vehicle", mux.Vars(r)["id"])
	if !ok {
		return
	}
	rows, err := a.db.Query(r.Context(), vehicleEventSQL, d.VID, mux.Vars(r)["eid"])
	if err != nil {
		serverError(w, err)
		return
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanVehicleEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		httpx.WriteError(w, http.StatusNotFound, "event_not_found", "no such event for this vehicle")
		return
	}
	if err != nil {
		serverError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, e)
}

// --- helpers ------------------------------------------------------------------

// device loads a device of the given kind or answers 404.
func (a *api) device(w http.ResponseWriter, r *http.Request, kind, id string) (*device, bool) {
	rows, err := a.db.Query(r.Context(), deviceSQL, id)
	if err != nil {
		serverError(w, err)
		return nil, false
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDevice)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && d.kind != kind) {
		httpx.WriteError(w, http.StatusNotFound, "device_not_found", fmt.Sprintf("no %s %q", kind, id))
		return nil, false
	}
	if err != nil {
		serverError(w, err)
		return nil, false
	}
	return &d, true
}

func scanDevice(row pgx.CollectableRow) (device, error) {
	var (
		d        device
		id       string
		lat, lon *float64
	)
	err := row.Scan(&id, &d.kind, &d.Name, &lat, &lon, &d.TimeZone, &d.VIN, &d.Plate, &d.Model,
		&d.Version, &d.Decommissioned, &d.RegisteredAt, &d.UpdatedAt)
	if err != nil {
		return d, err
	}
	if d.kind == "station" {
		d.ID = id
		if lat != nil && lon != nil {
			d.Location = &location{Lat: *lat, Lon: *lon}
		}
	} else {
		d.VID = id
	}
	d.RegisteredAt, d.UpdatedAt = d.RegisteredAt.UTC(), d.UpdatedAt.UTC()
	d.zone = time.UTC
	if d.TimeZone != "" {
		if loc, err := time.LoadLocation(d.TimeZone); err == nil {
			d.zone = loc
		}
	}
	return d, nil
}

func scanVehicleEvent(row pgx.CollectableRow) (vehicleEvent, error) {
	var (
		e              vehicleEvent
		readings, data *string
		lat, lon       *float64
	)
	if err := row.Scan(&e.EID, &e.Type, &e.OccurredAt, &readings, &lat, &lon, &data); err != nil {
		return e, err
	}
	e.OccurredAt = e.OccurredAt.UTC()
	if readings != nil {
		e.Readings = json.RawMessage(*readings)
	}
	if data != nil {
		e.Data = json.RawMessage(*data)
	}
	if lat != nil && lon != nil {
		e.Location = &location{Lat: *lat, Lon: *lon}
	}
	return e, nil
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func encodeCursor(at time.Time, eid string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + eid))
}

func decodeCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", errors.New("cursor is not valid")
	}
	at, eid, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, "", errors.New("cursor is not valid")
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil || !storableText(eid) {
		return time.Time{}, "", errors.New("cursor is not valid")
	}
	return t, eid, nil
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// query reads query parameters (parsed once per request), keeping the first error.
type query struct {
	vals url.Values
	err  error
}

func (q *query) get(key string) string { return q.vals.Get(key) }

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = fmt.Errorf(format, args...)
	}
}

func (q *query) name(key string) string {
	v := q.get(key)
	if v == "" {
		q.fail("%s is required", key)
	} else if !namePattern.MatchString(v) {
		q.fail("%s must match ^[a-z][a-z0-9_]{0,63}$", key)
	}
	return v
}

func (q *query) time(key string, def time.Time) time.Time {
	v := q.get(key)
	if v == "" {
		return def
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || t.Year() < 1970 || t.Year() > 9999 {
		q.fail("%s must be an RFC 3339 time such as 2026-11-23T10:00:00Z", key)
		return def
	}
	return t
}

func (q *query) date(key string, def time.Time) time.Time {
	v := q.get(key)
	if v == "" {
		return def
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil || t.Year() < 1970 || t.Year() > 9999 {
		q.fail("%s must be a date such as 2026-11-23", key)
		return def
	}
	return t
}

func (q *query) intIn(key string, def, lo, hi int) int {
	v := q.get(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.fail("%s must be a whole number from %d to %d", key, lo, hi)
		return def
	}
	return n
}

// notFoundCodes names the 404 of each path variable.
var notFoundCodes = map[string]string{"id": "device_not_found", "eid": "event_not_found", "projection": "projection_not_found"}

// refuseUnstorableText answers, before any SQL runs, requests whose query
// string does not parse, or whose path variables or query values PostgreSQL
// text cannot hold (invalid UTF-8, NUL): no read model row can have such a
// name, and the query would fail as a 500.
func refuseUnstorableText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name, v := range mux.Vars(r) {
			if !storableText(v) {
				code := notFoundCodes[name]
				if code == "" {
					code = "not_found"
				}
				httpx.WriteError(w, http.StatusNotFound, code, fmt.Sprintf("no such %s", name))
				return
			}
		}
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			// URL.Query would drop the broken pair silently and answer as if
			// it had not been sent.
			badRequest(w, fmt.Errorf("the query string does not parse: %w", err))
			return
		}
		for key, vs := range query {
			for _, v := range vs {
				if !storableText(key) || !storableText(v) {
					badRequest(w, errors.New("query parameters must be UTF-8 text without NUL characters"))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func storableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func badRequest(w http.ResponseWriter, err error) {
	httpx.WriteError(w, http.StatusBadRequest, "invalid_query", err.Error())
}

// serverError answers 503 when PostgreSQL is out of reach, 500 otherwise.
func serverError(w http.ResponseWriter, err error) {
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "query timed out; retry later")
	case errors.As(err, &connErr), errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57")):
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "read models are unavailable; retry later")
	default:
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}
