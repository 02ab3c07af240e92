package readapi

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// EventCursor is a place in a vehicle's events, newest first: a page holds
// the events strictly before it. Clients see it as an opaque string.
type EventCursor struct {
	At  time.Time
	EID string
}

// startOfEvents is the cursor of a first page: every event before to.
func startOfEvents(to time.Time) EventCursor { return EventCursor{At: to, EID: "\U0010FFFF"} }

func (c EventCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.At.UTC().Format(time.RFC3339Nano) + "|" + c.EID))
}

// parseEventCursor reads a cursor String wrote; ok is false for anything else.
func parseEventCursor(s string) (c EventCursor, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return EventCursor{}, false
	}
	at, eid, ok := strings.Cut(string(raw), "|")
	if !ok {
		return EventCursor{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil || !storableText(eid) {
		return EventCursor{}, false
	}
	return EventCursor{At: t, EID: eid}, true
}

// HistoryCursor is a place in a device's audit trail (the log position of
// an entry's event): a page holds the entries after it. Clients see it as
// "<commit>-<prepare>".
type HistoryCursor struct {
	Commit, Prepare int64
}

// startOfHistory is the cursor of a first page: before every entry.
var startOfHistory = HistoryCursor{Commit: -1, Prepare: -1}

func (c HistoryCursor) String() string {
	return strconv.FormatInt(c.Commit, 10) + "-" + strconv.FormatInt(c.Prepare, 10)
}

// parseHistoryCursor reads a cursor String wrote; ok is false for anything else.
func parseHistoryCursor(s string) (c HistoryCursor, ok bool) {
	a, b, cut := strings.Cut(s, "-")
	commit, err1 := strconv.ParseInt(a, 10, 64)
	prepare, err2 := strconv.ParseInt(b, 10, 64)
	if !cut || err1 != nil || err2 != nil {
		return HistoryCursor{}, false
	}
	return HistoryCursor{Commit: commit, Prepare: prepare}, true
}
