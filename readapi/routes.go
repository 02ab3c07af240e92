// Package readapi is the query HTTP API dashboards read: stations,
// vehicles, raw points, daily aggregates, latest values, vehicle events,
// audit trails, exports and alerts. Its handlers read, through the Store
// port (store.go), the read models that projectors maintain; it never
// touches the event store or the command side.
//
// Where things are: routes.go the routes; devices.go, measurements.go,
// vehicles.go, history.go, export.go, alerts.go and feed.go (the
// public event feed, read from the log through the EventFeed port) the handlers by
// resource; responses.go the response shapes; query.go the query-string
// parsing; cursor.go the page cursors; middleware.go the refusals made
// before any handler runs; auth.go who may read (read keys
// and their scopes); errors.go the one mapping of errors to statuses.
package readapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/readapi/dashboard"
)

// Config holds the read API's limits.
type Config struct {
	RequestTimeout time.Duration
	// MaxPoints bounds one raw-points answer (default 100,000).
	MaxPoints int
	// Auth says who may read; its zero value asks for a key on every
	// route but PublicRoutes (auth.go).
	Auth AuthConfig
	// Feed is the event log /v1/feed reads; nil answers 503 (a read API
	// on a hot standby has no event store).
	Feed EventFeed
}

type api struct {
	store  Store
	cfg    Config
	clock  func() time.Time
	logger *slog.Logger
}

// NewHandler returns the read API's routes over store, with ops endpoints.
func NewHandler(store Store, cfg Config, clock func() time.Time, reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	if cfg.MaxPoints <= 0 {
		cfg.MaxPoints = 100_000
	}
	a := &api{store: store, cfg: cfg, clock: clock, logger: logger}
	r := mux.NewRouter()
	httpx.AnswerUnmatched(r)
	r.Use(httpx.Instrument(reg, "read", logger, cfg.RequestTimeout))
	r.Use(newAuthenticator(store, cfg.Auth, time.Now).middleware)
	httpx.Ops(r, reg, func(ctx context.Context) error { return store.Ping(ctx) })

	v1 := r.PathPrefix("/v1").Subrouter()
	v1.Use(refuseUnstorableText)
	v1.Use(newFreshness(store, logger).header)
	v1.HandleFunc("/stations", a.listDevices(Station)).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}", a.getDevice(Station)).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements", a.stationPoints).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/daily", a.daily(Station, "type")).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/hourly", a.stationHourly).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/buckets/{projection}", a.stationBuckets).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/latest", a.stationLatest).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/history", a.history(Station)).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/export", a.export).Methods(http.MethodGet)
	v1.HandleFunc("/measurements", a.measurements).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles", a.listDevices(Vehicle)).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}", a.getDevice(Vehicle)).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/events", a.vehicleEvents).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/events/{eid}", a.vehicleEvent).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/readings/daily", a.daily(Vehicle, "name")).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/history", a.history(Vehicle)).Methods(http.MethodGet)
	v1.HandleFunc("/alerts", a.alerts).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/alerts", a.stationAlerts).Methods(http.MethodGet)
	v1.HandleFunc("/devices/{id}/status", a.deviceStatus).Methods(http.MethodGet)
	v1.HandleFunc("/feed", a.feed).Methods(http.MethodGet)

	// The API's own description, and the dashboard (static, embedded).
	httpx.APIDocs(r, openAPI)
	dash := dashboard.Handler()
	r.Handle("/", dash).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/dashboard/").Handler(http.StripPrefix("/dashboard", dash)).Methods(http.MethodGet, http.MethodHead)
	return r
}
