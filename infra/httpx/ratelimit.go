package httpx

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DeviceRateLimiter limits requests per device with a token bucket each:
// one noisy or compromised device cannot starve the others. Buckets idle
// for a while are forgotten, so memory follows the active fleet.
type DeviceRateLimiter struct {
	limit   rate.Limit
	burst   int
	idle    time.Duration
	clock   func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	limiter *rate.Limiter
	seen    time.Time
}

// NewDeviceRateLimiter allows each device perSecond requests on average and
// bursts of burst.
func NewDeviceRateLimiter(perSecond float64, burst int, clock func() time.Time) *DeviceRateLimiter {
	return &DeviceRateLimiter{limit: rate.Limit(perSecond), burst: burst, idle: 10 * time.Minute, clock: clock,
		buckets: map[string]*bucket{}}
}

// Allow takes one token of device's bucket, or says how long until one is there.
func (l *DeviceRateLimiter) Allow(device string) (bool, time.Duration) {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > l.idle {
		for id, b := range l.buckets {
			if now.Sub(b.seen) > l.idle {
				delete(l.buckets, id)
			}
		}
		l.swept = now
	}
	b := l.buckets[device]
	if b == nil {
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[device] = b
	}
	b.seen = now
	r := b.limiter.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// Middleware answers 429 with Retry-After when the device named by
// deviceOf(r) is over its rate; requests deviceOf names no device for pass.
func (l *DeviceRateLimiter) Middleware(deviceOf func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if device := deviceOf(r); device != "" {
				if ok, wait := l.Allow(device); !ok {
					w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
					WriteError(w, http.StatusTooManyRequests, "rate_limited", "this device sends too many requests; retry later")
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
