// Package httpx is the HTTP plumbing both APIs share: JSON and error
// responses in the api.md shape, health and readiness endpoints, Prometheus
// request metrics, request logging, and a server that drains on shutdown.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}

// ErrorBody is the api.md error shape.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a machine code and a human message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Index and Field point at the offending item of a rejected batch.
	Index *int   `json:"index,omitempty"`
	Field string `json:"field,omitempty"`
}

// WriteError writes an error in the api.md shape.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// Pinger is a dependency readiness depends on.
type Pinger func(ctx context.Context) error

// Ops adds /healthz, /readyz and /metrics to r. /readyz is 503 while any
// pinger fails.
func Ops(r *mux.Router, reg *prometheus.Registry, pingers ...Pinger) {
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		for _, ping := range pingers {
			if err := ping(ctx); err != nil {
				WriteError(w, http.StatusServiceUnavailable, "not_ready", err.Error())
				return
			}
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})).Methods(http.MethodGet)
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// StreamRoute prefixes the name of a route whose answers are long-lived
// streams (server-sent events): Instrument does not bound them by the
// request timeout; they end with their client or the server.
const StreamRoute = "stream:"

// Instrument returns middleware that times every request by route template
// and status, logs it, and bounds it by timeout (except StreamRoute routes).
func Instrument(reg prometheus.Registerer, api string, logger *slog.Logger, timeout time.Duration) mux.MiddlewareFunc {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "fleetpulse_http_request_duration_seconds",
		Help:        "HTTP request latency by route and status.",
		ConstLabels: prometheus.Labels{"api": api},
		Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route", "status"})
	reg.MustRegister(duration)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			var (
				ctx    context.Context
				cancel context.CancelFunc
			)
			if cur := mux.CurrentRoute(r); cur != nil && strings.HasPrefix(cur.GetName(), StreamRoute) {
				ctx, cancel = context.WithCancel(r.Context())
			} else {
				ctx, cancel = context.WithTimeout(r.Context(), timeout)
			}
			defer cancel()
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r.WithContext(ctx))
			route := "unmatched"
			if cur := mux.CurrentRoute(r); cur != nil {
				if tpl, err := cur.GetPathTemplate(); err == nil {
					route = tpl
				}
			}
			elapsed := time.Since(start)
			duration.WithLabelValues(r.Method, route, strconv.Itoa(sw.status)).Observe(elapsed.Seconds())
			level := slog.LevelDebug
			if sw.status >= 500 {
				level = slog.LevelWarn
			}
			// Only the route template: ids stay, tokens never reach a log.
			logger.Log(r.Context(), level, "request", "api", api, "method", r.Method, "route", route,
				"status", sw.status, "duration", elapsed)
		})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (an upload
// handler extends its read deadline, live streams their write deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Serve runs handler on addr until ctx ends, then stops taking connections
// and waits up to drain for in-flight requests. ready, if not nil, receives
// the bound address (useful with ":0").
func Serve(ctx context.Context, addr string, handler http.Handler, drain time.Duration, logger *slog.Logger, ready chan<- string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fresh := newConnTracker()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnState:         fresh.track,
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	logger.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	// Shutdown counts a connection that has not sent a request yet (clients
	// and load balancers open them ahead) as busy for 5 seconds; nothing is
	// in flight on it, so close those at once.
	go func() {
		time.Sleep(10 * time.Millisecond) // let Shutdown stop the listener first
		fresh.closeAll()
	}()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// The drain bound passed: what is still running is cut, as configured.
		logger.Warn("requests still running at the end of the drain time were cut", "drain", drain)
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// connTracker knows the connections that have not sent a request yet.
type connTracker struct {
	mu    sync.Mutex
	fresh map[net.Conn]struct{}
	done  bool
}

func newConnTracker() *connTracker { return &connTracker{fresh: map[net.Conn]struct{}{}} }

func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if state == http.StateNew && t.done {
		_ = c.Close()
		return
	}
	if state == http.StateNew {
		t.fresh[c] = struct{}{}
	} else {
		delete(t.fresh, c)
	}
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	for c := range t.fresh {
		_ = c.Close()
	}
	t.fresh = map[net.Conn]struct{}{}
}

// AnswerUnmatched makes r answer, in the API's error shape, a request for a
// path it serves with a method it does not with 405 and an Allow header
// naming the methods it does serve there, and any other unmatched request
// with 404. gorilla/mux alone answers 404 when the route sits in a
// subrouter, and never sets Allow.
func AnswerUnmatched(r *mux.Router) {
	u := unmatched{router: r}
	r.NotFoundHandler = u
	r.MethodNotAllowedHandler = u
}

// probedMethods are the methods a 405's Allow header may name.
var probedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

type unmatched struct{ router *mux.Router }

func (u unmatched) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var allowed []string
	for _, m := range probedMethods {
		probe := req.WithContext(req.Context()) // a shallow copy: Match only reads it
		probe.Method = m
		var match mux.RouteMatch
		if u.router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		WriteError(w, http.StatusNotFound, "not_found", "no such route; the routes are listed at /docs")
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed",
		fmt.Sprintf("%s is not allowed on this route; use %s", req.Method, strings.Join(allowed, " or ")))
}
