package readapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// clockViewMaxAge bounds how long a cached view whose range follows the
// clock (no explicit "to") is served: its window slides even when nothing
// is committed.
const clockViewMaxAge = time.Second

// gzipMinBytes: smaller bodies go out as they are.
const gzipMinBytes = 1024

// cacheControl is what every cached view says to browsers and proxies:
// any commit may change it, so they keep it but ask again each time, and
// the answer to that question is a 304 from memory when nothing changed.
const cacheControl = "private, no-cache"

// responseCache keeps encoded (and gzip-compressed) bodies of the hot views,
// so a view is computed once per change of its device rather than once per
// request. It learns of changes from the projector's commit notifications:
// each device has a generation, bumped when a commit touched it; an entry
// is served only while its device's generation (and the cache's epoch,
// bumped when a commit does not say what it touched, and on every
// (re)connection of the listener) are what they were when its computation
// began. The generation is bumped as the notification arrives, before any
// request that comes after it reads one, so no answer is older than the
// newest commit the cache was told about. While the listener is not
// connected nothing is served from memory.
type responseCache struct {
	maxBytes int
	timeout  time.Duration
	requests *prometheus.CounterVec

	mu        sync.Mutex
	connected bool
	epoch     uint64
	gens      map[string]uint64
	entries   map[string]*cacheEntry
	bytes     int

	flight singleflight.Group
}

// cacheEntry is one computed answer.
type cacheEntry struct {
	epoch, gen uint64
	computedAt time.Time
	status     int
	header     http.Header // Content-Type and the view's own headers
	body, gz   []byte
	etag       string // of the identity body; the gzip one adds -gz
}

func (e *cacheEntry) size() int { return len(e.body) + len(e.gz) + 256 }

func newResponseCache(maxBytes int, timeout time.Duration, reg prometheus.Registerer) *responseCache {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetpulse_read_cache_requests_total",
		Help: "Requests of cached read API views by outcome: hit, miss, not_modified (a 304), bypass (cache not connected to commit notifications).",
	}, []string{"outcome"})
	reg.MustRegister(requests)
	return &responseCache{maxBytes: maxBytes, timeout: timeout, requests: requests,
		gens: map[string]uint64{}, entries: map[string]*cacheEntry{}}
}

// connectedNow is called when the commit listener (re)connects: it may
// have missed notifications, so nothing cached before is trusted.
func (c *responseCache) connectedNow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.connected = true
	c.dropAll()
}

// disconnectedNow stops serving from memory until the listener is back.
func (c *responseCache) disconnectedNow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.connected = false
	c.dropAll()
}

// committed bumps the generations of what a commit touched.
func (c *responseCache) committed(cm Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cm.All {
		c.dropAll()
		return
	}
	for _, d := range cm.Devices {
		c.gens[d]++
	}
}

func (c *responseCache) dropAll() {
	c.epoch++
	c.gens = map[string]uint64{}
	c.entries = map[string]*cacheEntry{}
	c.bytes = 0
}

// view says how a route is cached: which device its answer belongs to,
// and whether its range follows the clock.
type view struct {
	device      func(r *http.Request) string
	followClock func(r *http.Request) bool
}

func pathDevice(r *http.Request) string { return mux.Vars(r)["id"] }

func queryDevice(name string) func(r *http.Request) string {
	return func(r *http.Request) string { return r.URL.Query().Get(name) }
}

// unlessQueryNames says a view follows the clock unless its query names
// param (its range's end).
func unlessQueryNames(param string) func(r *http.Request) bool {
	return func(r *http.Request) bool { return r.URL.Query().Get(param) == "" }
}

func always(*http.Request) bool { return true }
func never(*http.Request) bool  { return false }

// wrap serves h's answers from memory when nothing changed.
func (c *responseCache) wrap(v view, h http.HandlerFunc) http.HandlerFunc {
	if c == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		device := v.device(r)
		key := r.URL.Path + "?" + r.URL.RawQuery
		c.mu.Lock()
		if !c.connected {
			c.mu.Unlock()
			c.requests.WithLabelValues("bypass").Inc()
			h(w, r)
			return
		}
		epoch, gen := c.epoch, c.gens[device]
		e := c.entries[key]
		c.mu.Unlock()
		fresh := e != nil && e.epoch == epoch && e.gen == gen &&
			(!v.followClock(r) || time.Since(e.computedAt) < clockViewMaxAge)
		outcome := "hit"
		if !fresh {
			outcome = "miss"
			flightKey := key + "\x00" + strconv.FormatUint(epoch, 10) + "/" + strconv.FormatUint(gen, 10)
			res, _, _ := c.flight.Do(flightKey, func() (any, error) {
				e := c.compute(r, h)
				e.epoch, e.gen = epoch, gen
				c.store(key, e)
				return e, nil
			})
			e = res.(*cacheEntry)
		}
		if c.serve(w, r, e) {
			outcome = "not_modified"
		}
		c.requests.WithLabelValues(outcome).Inc()
	}
}

// compute runs the handler into memory. Its context is the request's
// without its cancellation: other requests may be waiting for the answer.
func (c *responseCache) compute(r *http.Request, h http.HandlerFunc) *cacheEntry {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.timeout)
	defer cancel()
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	h(rec, r.WithContext(ctx))
	e := &cacheEntry{computedAt: time.Now(), status: rec.status, header: rec.header, body: rec.body.Bytes()}
	if e.status != http.StatusOK {
		return e
	}
	sum := fnv.New128a()
	_, _ = sum.Write(e.body)
	for _, k := range []string{RawRetainedFromHeader, "Content-Type"} {
		_, _ = sum.Write([]byte(k + ":" + e.header.Get(k) + "\n"))
	}
	e.etag = `"` + hex.EncodeToString(sum.Sum(nil)) + `"`
	if len(e.body) >= gzipMinBytes {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		_, _ = zw.Write(e.body)
		_ = zw.Close()
		e.gz = buf.Bytes()
	}
	return e
}

// store keeps a computed 200 answer, never over a newer one, within the
// memory bound (evicting arbitrary entries: map order).
func (c *responseCache) store(key string, e *cacheEntry) {
	if e.status != http.StatusOK || e.size() > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.epoch != c.epoch {
		return
	}
	if old := c.entries[key]; old != nil {
		if old.gen > e.gen {
			return
		}
		c.bytes -= old.size()
	}
	for k, old := range c.entries {
		if c.bytes+e.size() <= c.maxBytes {
			break
		}
		c.bytes -= old.size()
		delete(c.entries, k)
	}
	c.entries[key] = e
	c.bytes += e.size()
}

// serve writes e, or 304 when the client holds it already; it says which.
func (c *responseCache) serve(w http.ResponseWriter, r *http.Request, e *cacheEntry) (notModified bool) {
	h := w.Header()
	if e.status != http.StatusOK {
		for k, vs := range e.header {
			h[k] = vs
		}
		w.WriteHeader(e.status)
		_, _ = w.Write(e.body)
		return false
	}
	for k, vs := range e.header {
		h[k] = vs
	}
	h.Set("Cache-Control", cacheControl)
	h.Add("Vary", "Accept-Encoding")
	body, etag := e.body, e.etag
	if e.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = e.gz, strings.TrimSuffix(e.etag, `"`)+`-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), e.etag) {
		h.Del("Content-Type")
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return false
}

// etagMatches is If-None-Match's weak comparison against the entry's
// ETag, either representation.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.Trim(etag, `"`)
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.Trim(strings.TrimPrefix(t, "W/"), `"`)
		if t == want || t == want+"-gz" {
			return true
		}
	}
	return false
}

// acceptsGzip says whether an Accept-Encoding header takes gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		return q > 0
	}
	return false
}

// recorder is the ResponseWriter a cached view is computed into.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
