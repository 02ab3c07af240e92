package readapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/domain"
)

// liveFetchPage is how many changes one store read returns.
const liveFetchPage = 500

// liveWriteWait bounds one write to a live stream: a client that takes
// longer to take a frame is cut (its own goroutine waits, nobody else).
const liveWriteWait = 10 * time.Second

// liveHub fans the projector's commits out to live push subscribers. On
// each commit notification it reads the changes committed since the last
// one it dispatched from the store, once for every subscriber, encodes
// each as an SSE frame once, and hands the frame to each subscriber of its
// device without ever waiting: a subscriber whose buffer is full is
// dropped (its client reconnects with Last-Event-ID and reads what it
// missed from the store). Partitioned projectors commit independently, so
// the hub follows each share's changes with a cursor of its own.
type liveHub struct {
	store     LiveStore
	logger    *slog.Logger
	buffer    int
	heartbeat time.Duration
	dropped   prometheus.Counter
	kick      chan struct{}

	mu     sync.Mutex
	ready  bool // the listener is connected and the cursors are known
	known  bool // the shares' heads were read once
	shares map[int]*shareCursor
	subs   map[string]map[*subscriber]struct{}
	closed bool
}

// shareCursor is how far the hub has dispatched one share's changes.
type shareCursor struct {
	pos      domain.Position // newest position dispatched
	notified domain.Position // newest position a notification named
	// pageDevice is the last device handed out at pos when a page of
	// changes ended inside a commit, else "".
	pageDevice string
}

// pending says whether the cursor has changes left to read.
func (c *shareCursor) pending() bool { return c.pos.Less(c.notified) || c.pageDevice != "" }

// subscriber is one open stream.
type subscriber struct {
	device string
	share  int
	frames chan liveFrame
	done   chan struct{} // closed when dropped or the hub stops
	once   sync.Once
}

func (s *subscriber) stop() { s.once.Do(func() { close(s.done) }) }

// liveFrame is one change, encoded as an SSE event.
type liveFrame struct {
	pos  domain.Position
	data []byte
}

func newLiveHub(store LiveStore, buffer int, heartbeat time.Duration, reg prometheus.Registerer, logger *slog.Logger) *liveHub {
	if buffer <= 0 {
		buffer = 256
	}
	if heartbeat <= 0 {
		heartbeat = 15 * time.Second
	}
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "fleetpulse_live_subscribers_dropped_total",
		Help: "Live push subscribers disconnected because they fell more than FLEETPULSE_LIVE_BUFFER changes behind."})
	h := &liveHub{store: store, logger: logger, buffer: buffer, heartbeat: heartbeat, dropped: dropped,
		kick: make(chan struct{}, 1), shares: map[int]*shareCursor{}, subs: map[string]map[*subscriber]struct{}{}}
	subscribers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fleetpulse_live_subscribers",
		Help: "Open live push streams."}, func() float64 { return float64(h.count()) })
	reg.MustRegister(dropped, subscribers)
	return h
}

func (h *liveHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.subs {
		n += len(s)
	}
	return n
}

// cursorLocked returns share's cursor, a new one at the start of the log
// for a share not seen before: its kept changes all came after the heads
// were read.
func (h *liveHub) cursorLocked(share int) *shareCursor {
	c := h.shares[share]
	if c == nil {
		c = &shareCursor{}
		h.shares[share] = c
	}
	return c
}

// connected learns where each share's kept changes end, the first time,
// and reads what was committed while the listener was away.
func (h *liveHub) connected(ctx context.Context) {
	h.mu.Lock()
	known := h.known
	h.mu.Unlock()
	if !known {
		heads, err := h.store.LiveHeads(ctx)
		if err != nil {
			h.logger.Warn("live push: where changes end is unknown", "err", err)
			return
		}
		h.mu.Lock()
		for share, head := range heads {
			c := h.cursorLocked(share)
			if c.pos.Less(head) {
				c.pos, c.pageDevice = head, ""
			}
			if c.notified.Less(head) {
				c.notified = head
			}
		}
		h.known = true
		h.mu.Unlock()
	}
	h.mu.Lock()
	h.ready = true
	h.mu.Unlock()
	h.poke()
}

func (h *liveHub) disconnected() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = false
}

func (h *liveHub) committed(c Commit) {
	h.mu.Lock()
	if cur := h.cursorLocked(c.Share); cur.notified.Less(c.Position) {
		cur.notified = c.Position
	}
	h.mu.Unlock()
	h.poke()
}

func (h *liveHub) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// run dispatches until ctx ends, then ends every stream.
func (h *liveHub) run(ctx context.Context) {
	defer h.close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		}
		if err := h.dispatch(ctx); err != nil && ctx.Err() == nil {
			h.logger.Warn("live push: reading changes failed; trying at the next commit", "err", err)
			time.AfterFunc(time.Second, h.poke)
		}
	}
}

// dispatch reads and hands out every share's changes after its cursor.
func (h *liveHub) dispatch(ctx context.Context) error {
	h.mu.Lock()
	shares := make([]int, 0, len(h.shares))
	for share, c := range h.shares {
		if c.pending() {
			shares = append(shares, share)
		}
	}
	h.mu.Unlock()
	slices.Sort(shares)
	for _, share := range shares {
		if err := h.dispatchShare(ctx, share); err != nil {
			return err
		}
	}
	return nil
}

// dispatchShare reads and hands out share's changes after its cursor. Only
// run's goroutine moves a cursor's pos and pageDevice.
func (h *liveHub) dispatchShare(ctx context.Context, share int) error {
	for {
		h.mu.Lock()
		c := h.cursorLocked(share)
		ready, from, page, target, any := h.ready, c.pos, c.pageDevice, c.notified, len(h.subs) > 0
		h.mu.Unlock()
		if !ready || (!from.Less(target) && page == "") {
			return nil
		}
		if !any {
			// Nobody listens: skip what was committed, a new subscriber
			// reads its backlog from the store.
			h.mu.Lock()
			if c.pos.Less(target) {
				c.pos, c.pageDevice = target, ""
			}
			h.mu.Unlock()
			return nil
		}
		changes, err := h.store.LiveChanges(ctx, share, from, page, liveFetchPage)
		if err != nil {
			return err
		}
		frames := make([]liveFrame, len(changes))
		for i, ch := range changes {
			frames[i] = encodeLiveFrame(ch)
		}
		h.mu.Lock()
		for i, ch := range changes {
			for s := range h.subs[ch.DeviceID] {
				select {
				case s.frames <- frames[i]:
				default:
					h.dropLocked(s)
					h.dropped.Inc()
				}
			}
			c.pos = ch.Position
		}
		// A full page may end inside a commit: the next one goes on after
		// its last device.
		c.pageDevice = ""
		if len(changes) == liveFetchPage {
			c.pageDevice = changes[len(changes)-1].DeviceID
		}
		if len(changes) < liveFetchPage && c.pos.Less(target) {
			// Everything of the share up to the notified position is
			// committed and was read: no change of it is left.
			c.pos = target
		}
		h.mu.Unlock()
		if len(changes) < liveFetchPage {
			return nil
		}
	}
}

// subscribe adds a subscriber of device, whose changes share records, and
// returns the position from which the hub hands it changes: what came
// before, it reads itself.
func (h *liveHub) subscribe(device string, share int) (*subscriber, domain.Position, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ready || h.closed {
		return nil, domain.Position{}, false
	}
	s := &subscriber{device: device, share: share, frames: make(chan liveFrame, h.buffer), done: make(chan struct{})}
	if h.subs[device] == nil {
		h.subs[device] = map[*subscriber]struct{}{}
	}
	h.subs[device][s] = struct{}{}
	return s, h.cursorLocked(share).pos, true
}

func (h *liveHub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(s)
}

func (h *liveHub) dropLocked(s *subscriber) {
	if set := h.subs[s.device]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.subs, s.device)
		}
	}
	s.stop()
}

// close ends every stream (shutdown).
func (h *liveHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, set := range h.subs {
		for s := range set {
			s.stop()
		}
	}
	h.subs = map[string]map[*subscriber]struct{}{}
}

// liveEvent is the data of one SSE "change" event.
type liveEvent struct {
	Position    string         `json:"position"`
	DeviceID    string         `json:"device_id"`
	CommittedAt time.Time      `json:"committed_at"`
	Points      []LivePoint    `json:"points,omitempty"`
	Latest      []LivePoint    `json:"latest,omitempty"`
	Events      []VehicleEvent `json:"events,omitempty"`
	Alerts      []Alert        `json:"alerts,omitempty"`
}

// encodeLiveFrame encodes a change as an SSE event whose id is its position.
func encodeLiveFrame(c LiveChange) liveFrame {
	ev := liveEvent{Position: c.Position.String(), DeviceID: c.DeviceID, CommittedAt: c.CommittedAt.UTC(),
		Points: c.Points, Latest: newestByType(c.Points), Events: c.Events, Alerts: c.Alerts}
	data, err := json.Marshal(ev)
	if err != nil {
		// Only a non-finite float could fail, and the log holds none.
		data = []byte(`{"position":"` + ev.Position + `","error":"unencodable change"}`)
	}
	var b bytes.Buffer
	b.Grow(len(data) + 64)
	b.WriteString("id: ")
	b.WriteString(ev.Position)
	b.WriteString("\nevent: change\ndata: ")
	b.Write(data) // JSON holds no raw newline
	b.WriteString("\n\n")
	return liveFrame{pos: c.Position, data: b.Bytes()}
}

// newestByType is each type's newest point of a change, for latest values.
func newestByType(points []LivePoint) []LivePoint {
	if len(points) == 0 {
		return nil
	}
	idx := map[string]int{}
	var out []LivePoint
	for _, p := range points {
		i, ok := idx[p.Type]
		if !ok {
			idx[p.Type] = len(out)
			out = append(out, p)
			continue
		}
		if !p.MeasuredAt.Before(out[i].MeasuredAt) {
			out[i] = p
		}
	}
	return out
}

// errBadEventID: a Last-Event-ID that no stream ever sent.
var errBadEventID = errors.New("Last-Event-ID is not a position")

// parseEventID reads an SSE id: a log position "<commit>/<prepare>".
func parseEventID(s string) (domain.Position, error) {
	c, p, ok := strings.Cut(s, "/")
	if !ok {
		return domain.Position{}, errBadEventID
	}
	commit, err1 := strconv.ParseUint(c, 10, 63)
	prepare, err2 := strconv.ParseUint(p, 10, 63)
	if err1 != nil || err2 != nil {
		return domain.Position{}, errBadEventID
	}
	return domain.Position{Commit: commit, Prepare: prepare}, nil
}

// live streams a device's changes as server-sent events: each event's id
// is its log position, and a client that reconnects with Last-Event-ID
// (or last_event_id in the query, for the first connection) gets every
// change after it, once, in order, then the live ones.
func (a *api) live(kind Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := a.device(r.Context(), kind, mux.Vars(r)["id"])
		if err != nil {
			writeError(w, err)
			return
		}
		if a.hub == nil {
			writeError(w, refuse(errLiveOff, "live push is off on this server"))
			return
		}
		var last *domain.Position
		id := r.Header.Get("Last-Event-ID")
		if id == "" {
			id = r.URL.Query().Get("last_event_id")
		}
		if id != "" {
			p, err := parseEventID(id)
			if err != nil {
				writeError(w, refuse(errInvalidQuery, "Last-Event-ID %q is not a position of this stream", id))
				return
			}
			last = &p
		}
		share, floor, err := a.hub.store.LiveDevice(r.Context(), d.ID)
		if err != nil {
			writeError(w, err)
			return
		}
		sub, from, ok := a.hub.subscribe(d.ID, share)
		if !ok {
			writeError(w, refuse(errLiveUnavailable, "live push is not connected to the read models' commits; retry later"))
			return
		}
		defer a.hub.unsubscribe(sub)
		a.stream(w, r, sub, last, from, floor)
	}
}

// stream writes the changes of sub's device after last (when given) up to
// from, read from the store, then those the hub hands sub; floor is the
// newest position pruned of the device's share.
func (a *api) stream(w http.ResponseWriter, r *http.Request, sub *subscriber, last *domain.Position, from, floor domain.Position) {
	rc := http.NewResponseController(w)
	// The server's read timeout would end the request's context in the
	// middle of the stream; a stream reads nothing more.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(liveWriteWait))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n\n")) {
		return
	}
	sent := from
	if last != nil {
		if last.Less(floor) {
			// What it missed is no longer kept: it reloads its views.
			if !write([]byte("event: reset\ndata: {}\n\n")) {
				return
			}
		} else {
			// The backlog (last, from], from the store.
			sent = *last
			for sent.Less(from) {
				changes, err := a.hub.store.DeviceLiveChanges(r.Context(), sub.device, sent, liveFetchPage)
				if err != nil {
					return
				}
				for _, c := range changes {
					if from.Less(c.Position) {
						break
					}
					if !write(encodeLiveFrame(c).data) {
						return
					}
					sent = c.Position
				}
				if len(changes) < liveFetchPage {
					break
				}
			}
			if sent.Less(from) {
				sent = from
			}
		}
	}
	beat := time.NewTicker(a.hub.heartbeat)
	defer beat.Stop()
	for {
		select {
		case f := <-sub.frames:
			if !sent.Less(f.pos) {
				continue // sent already, from the backlog
			}
			if !write(f.data) {
				return
			}
			sent = f.pos
		case <-beat.C:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
		case <-sub.done:
			// Dropped, or shutting down: what is buffered goes first.
			for {
				select {
				case f := <-sub.frames:
					if sent.Less(f.pos) && !write(f.data) {
						return
					}
				default:
					return
				}
			}
		case <-r.Context().Done():
			return
		}
	}
}
