package readapi

import (
	"net/url"
	"regexp"
	"strconv"
	"time"
)

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// query reads query parameters (parsed once per request), keeping the first
// error: a refusal of kind errInvalidQuery.
type query struct {
	vals url.Values
	err  error
}

func (q *query) get(key string) string { return q.vals.Get(key) }

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = refuse(errInvalidQuery, format, args...)
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

// dateOf is the calendar date of t, as midnight UTC.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
