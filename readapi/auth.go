package readapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// KeyStore answers which read API keys exist: the read model the projector
// keeps from the log's ReadKeyCreated and ReadKeyRevoked events.
type KeyStore interface {
	// ReadKey returns the key created under id, or an error wrapping
	// domain.ErrReadKeyNotFound.
	ReadKey(ctx context.Context, id string) (StoredKey, error)
}

// StoredKey is a read key as the read models hold it.
type StoredKey struct {
	Hash    []byte   // domain.HashReadKey of the key
	Devices []string // nil: every device
	Revoked bool
}

// AuthConfig says who may read.
type AuthConfig struct {
	// Open lets every request read without a key (FLEETPULSE_READ_AUTH=off).
	// Off by default: every route but PublicRoutes needs a key.
	Open bool
	// AdminToken, when set, reads everything, as a fleet-wide key does.
	AdminToken string
	// KeyCacheTTL is how long a key found valid is believed without asking
	// the read models again (default DefaultKeyCacheTTL): a revoked key is
	// refused at most this long after its revocation is projected.
	KeyCacheTTL time.Duration
}

// DefaultKeyCacheTTL is AuthConfig.KeyCacheTTL's default.
const DefaultKeyCacheTTL = time.Second

// PublicRoutes are the path templates any caller may read: health, the
// static dashboard (it asks for a key before it reads data) and the API's
// description. Every other route needs a key: a route added later is
// closed until it is listed here.
var PublicRoutes = []string{"/healthz", "/readyz", "/", "/dashboard/", "/openapi.json", "/docs"}

// keyCacheMax bounds the cached keys; a full cache starts over.
const keyCacheMax = 10_000

// Refusals of the authentication, mapped in errors.go.
var (
	errNoKey       = refusal{kind: domain.ErrUnauthenticated, message: "missing or invalid key: send the header Authorization: Bearer <read key>"}
	errRevokedKey  = refusal{kind: domain.ErrUnauthenticated, message: "this read key was revoked"}
	errFleetRoute  = refusal{kind: domain.ErrForbidden, message: "this read key is scoped to devices: it may read only routes of one of its devices, not fleet-wide ones"}
	errOtherDevice = refusal{kind: domain.ErrForbidden, message: "this read key is not scoped to this device"}
)

// authenticator is the middleware that lets a request through only with
// the admin token or a valid read key whose scope covers what it reads.
type authenticator struct {
	keys KeyStore
	cfg  AuthConfig
	now  func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedKey // by the presented key's hash
}

// cachedKey is a key found valid: its scope (nil: every device) and until
// when it is believed.
type cachedKey struct {
	scope   []string
	expires time.Time
}

func newAuthenticator(keys KeyStore, cfg AuthConfig, now func() time.Time) *authenticator {
	if cfg.KeyCacheTTL <= 0 {
		cfg.KeyCacheTTL = DefaultKeyCacheTTL
	}
	return &authenticator{keys: keys, cfg: cfg, now: now, cache: map[[sha256.Size]byte]cachedKey{}}
}

// middleware authenticates every route but PublicRoutes.
func (a *authenticator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Open || isPublic(r) {
			next.ServeHTTP(w, r)
			return
		}
		scope, err := a.authenticate(r)
		if err == nil {
			err = checkScope(r, scope)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), scopeKey{}, scope)))
	})
}

// isStream says whether r is for a live push route (server-sent events).
func isStream(r *http.Request) bool {
	route := mux.CurrentRoute(r)
	return route != nil && strings.HasPrefix(route.GetName(), httpx.StreamRoute)
}

// scopeKey holds a request's scope in its context.
type scopeKey struct{}

// scopeOf is the devices the request's key may read; nil: every device.
func scopeOf(ctx context.Context) []string {
	scope, _ := ctx.Value(scopeKey{}).([]string)
	return scope
}

func isPublic(r *http.Request) bool {
	route := mux.CurrentRoute(r)
	if route == nil {
		return false
	}
	tpl, err := route.GetPathTemplate()
	return err == nil && slices.Contains(PublicRoutes, tpl)
}

// authenticate returns the caller's scope (nil: every device), or why it
// may not read.
func (a *authenticator) authenticate(r *http.Request) ([]string, error) {
	token, ok := BearerToken(r.Header.Get("Authorization"))
	if !ok && isStream(r) {
		// A browser's EventSource cannot send headers: a live stream also
		// takes its key as ?access_token= (RFC 6750 section 2.3). Only
		// there, and the request log never records query strings.
		token = r.URL.Query().Get("access_token")
		ok = token != ""
	}
	if !ok {
		return nil, errNoKey
	}
	if a.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.cfg.AdminToken)) == 1 {
		return nil, nil
	}
	id, ok := domain.ParseReadKey(token)
	if !ok {
		return nil, errNoKey
	}
	hash := sha256.Sum256([]byte(token)) // domain.HashReadKey, as an array for the cache
	now := a.now()
	if scope, ok := a.cached(hash, now); ok {
		return scope, nil
	}
	stored, err := a.keys.ReadKey(r.Context(), id)
	if errors.Is(err, domain.ErrReadKeyNotFound) {
		return nil, errNoKey
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(stored.Hash, hash[:]) != 1 {
		return nil, errNoKey
	}
	if stored.Revoked {
		return nil, errRevokedKey
	}
	scope := stored.Devices
	if scope != nil && len(scope) == 0 {
		scope = []string{} // scoped to nothing reads nothing, never everything
	}
	a.remember(hash, scope, now)
	return scope, nil
}

func (a *authenticator) cached(hash [sha256.Size]byte, now time.Time) ([]string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[hash]
	if !ok || !now.Before(c.expires) {
		return nil, false
	}
	return c.scope, true
}

func (a *authenticator) remember(hash [sha256.Size]byte, scope []string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= keyCacheMax {
		for h, c := range a.cache {
			if !now.Before(c.expires) {
				delete(a.cache, h)
			}
		}
		if len(a.cache) >= keyCacheMax {
			clear(a.cache)
		}
	}
	a.cache[hash] = cachedKey{scope: scope, expires: now.Add(a.cfg.KeyCacheTTL)}
}

// checkScope lets a scoped key read only a route of one of its devices:
// one with the device in its path ({id}), or /v1/measurements with its
// station parameter. Fleet-wide routes (lists, alerts, metrics) are
// refused rather than filtered, so that no answer differs by key; the one
// exception is the event feed, which filters: it leaves out the events of
// other devices (feed.go), so a device-scoped consumer can follow its own.
func checkScope(r *http.Request, scope []string) error {
	if scope == nil || r.URL.Path == "/v1/feed" {
		return nil
	}
	device, ok := mux.Vars(r)["id"]
	if !ok && r.URL.Path == "/v1/measurements" {
		device, ok = r.URL.Query().Get("station"), true
	}
	if !ok {
		return errFleetRoute
	}
	if !slices.Contains(scope, device) {
		return errOtherDevice
	}
	return nil
}

// BearerToken reads the token of an Authorization header of the form
// "Bearer <token>" (the scheme in any case, RFC 9110 section 11.1): ok is
// false for a missing header, another scheme, or an empty token or one
// with characters no token has.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || len(token) > 4096 {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return "", false
		}
	}
	return token, true
}
