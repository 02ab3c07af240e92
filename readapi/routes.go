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
// before any handler runs; auth.go who may read (read keys and their
// scopes); errors.go the one mapping of errors to statuses;
// cache.go the response cache of the hot views and encode.go their
// reflection-free encoding; live.go live push (server-sent events). Both
// the cache and live push learn of the projector's commits through a
// CommitListener (live_store.go).
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
	// Commits, when set, tells the response cache and live push of the
	// projector's commits; without it neither runs (a hot standby hears
	// no notifications).
	Commits CommitListener
	// CacheBytes bounds the response cache (default 64 MiB); negative
	// turns it off.
	CacheBytes int
	// LiveBuffer is how many changes a live subscriber may have waiting
	// before it is dropped (default 256).
	LiveBuffer int
	// LiveHeartbeat is how often an idle live stream gets a comment line
	// (default 15 s).
	LiveHeartbeat time.Duration
	// Feed is the event log /v1/feed reads; nil answers 503 (a read API
	// on a hot standby has no event store).
	Feed EventFeed
}

type api struct {
	store  Store
	cfg    Config
	clock  func() time.Time
	logger *slog.Logger
	cache  *responseCache // nil: off
	hub    *liveHub       // nil: off
}

// API is the read API: its routes, and (with Config.Commits) the listening
// that keeps the response cache and live push up to date (Run).
type API struct {
	http.Handler
	a *api
}

// NewHandler returns the read API's routes over store, with ops endpoints.
// Without Config.Commits it serves every request from the store.
func NewHandler(store Store, cfg Config, clock func() time.Time, reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	return New(store, cfg, clock, reg, logger).Handler
}

// Run listens to the projector's commits until ctx ends, feeding the
// response cache and live push; then it ends every live stream. Without
// Config.Commits it only waits for ctx.
func (x *API) Run(ctx context.Context) error {
	a := x.a
	if a.cfg.Commits == nil {
		<-ctx.Done()
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.hub.run(ctx)
	}()
	err := a.cfg.Commits.Listen(ctx,
		func() {
			if a.cache != nil {
				a.cache.connectedNow()
			}
			a.hub.connected(ctx)
		},
		func() {
			if a.cache != nil {
				a.cache.disconnectedNow()
			}
			a.hub.disconnected()
		},
		func(c Commit) {
			// The cache first: a request that comes after this must not
			// get an answer from before the commit.
			if a.cache != nil {
				a.cache.committed(c)
			}
			a.hub.committed(c)
		})
	<-done
	return err
}

// Listening says whether the API hears the projector's commits now: only
// then does the response cache answer from memory and live push stream.
func (x *API) Listening() bool {
	if x.a.hub == nil {
		return false
	}
	x.a.hub.mu.Lock()
	defer x.a.hub.mu.Unlock()
	return x.a.hub.ready
}

// New returns the read API over store.
func New(store Store, cfg Config, clock func() time.Time, reg *prometheus.Registry, logger *slog.Logger) *API {
	if cfg.MaxPoints <= 0 {
		cfg.MaxPoints = 100_000
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	a := &api{store: store, cfg: cfg, clock: clock, logger: logger}
	if cfg.Commits != nil {
		if cfg.CacheBytes > 0 {
			a.cache = newResponseCache(cfg.CacheBytes, cfg.RequestTimeout, reg)
		}
		a.hub = newLiveHub(store, cfg.LiveBuffer, cfg.LiveHeartbeat, reg, logger)
	}
	c := a.cache.wrap
	r := mux.NewRouter()
	httpx.AnswerUnmatched(r)
	r.Use(httpx.Instrument(reg, "read", logger, cfg.RequestTimeout))
	r.Use(newAuthenticator(store, cfg.Auth, time.Now).middleware)
	httpx.Ops(r, reg, func(ctx context.Context) error { return store.Ping(ctx) })

	v1 := r.PathPrefix("/v1").Subrouter()
	v1.Use(refuseUnstorableText)
	v1.Use(newFreshness(store, logger).header)
	v1.HandleFunc("/stations", a.listDevices(Station)).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}", c(view{pathDevice, never}, a.getDevice(Station))).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements", c(view{pathDevice, unlessQueryNames("to")}, a.stationPoints)).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/daily", c(view{pathDevice, unlessQueryNames("to")}, a.daily(Station, "type"))).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/hourly", a.stationHourly).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/measurements/buckets/{projection}", a.stationBuckets).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/latest", c(view{pathDevice, never}, a.stationLatest)).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/live", a.live(Station)).Methods(http.MethodGet).Name(httpx.StreamRoute + "station")
	v1.HandleFunc("/stations/{id}/history", a.history(Station)).Methods(http.MethodGet)
	v1.HandleFunc("/stations/{id}/export", a.export).Methods(http.MethodGet)
	v1.HandleFunc("/measurements", c(view{queryDevice("station"), always}, a.measurements)).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles", a.listDevices(Vehicle)).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}", c(view{pathDevice, never}, a.getDevice(Vehicle))).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/events", c(view{pathDevice, unlessQueryNames("to")}, a.vehicleEvents)).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/live", a.live(Vehicle)).Methods(http.MethodGet).Name(httpx.StreamRoute + "vehicle")
	v1.HandleFunc("/vehicles/{id}/events/{eid}", a.vehicleEvent).Methods(http.MethodGet)
	v1.HandleFunc("/vehicles/{id}/readings/daily", c(view{pathDevice, unlessQueryNames("to")}, a.daily(Vehicle, "name"))).Methods(http.MethodGet)
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
	return &API{Handler: r, a: a}
}
