package esdb

import (
	"container/list"
	"sync"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

// recent remembers, for the streams this process wrote or checked lately,
// the stream's version and the ids of its latest events, so an append can
// drop ids already stored without reading the stream first. What it holds
// is only a guess about the server: every append made from it is checked
// with the exact revision it assumed (see Store.Append).
type recent struct {
	window     int // ids kept per stream, at least
	maxStreams int // streams kept, least recently used dropped first

	mu      sync.Mutex
	streams map[string]*list.Element // of *streamTail
	lru     *list.List
}

type streamTail struct {
	stream  string
	version int64             // domain.NoStream when the stream does not exist
	ids     []uuid.UUID       // oldest first
	set     map[uuid.UUID]int // copies of each id in ids
}

func newRecent(window, maxStreams int) *recent {
	return &recent{window: window, maxStreams: maxStreams, streams: make(map[string]*list.Element), lru: list.New()}
}

// check returns the stream's remembered version and, for each id, whether
// it is among the stream's remembered ids; ok is false for a stream it
// does not know.
func (r *recent) check(stream string, ids []uuid.UUID) (version int64, seen []bool, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.streams[stream]
	if !ok {
		return 0, nil, false
	}
	r.lru.MoveToFront(el)
	t := el.Value.(*streamTail)
	seen = make([]bool, len(ids))
	for i, id := range ids {
		_, seen[i] = t.set[id]
	}
	return t.version, seen, true
}

// load replaces what is known of stream with what its tail holds.
func (r *recent) load(stream string, version int64, ids []uuid.UUID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadLocked(stream, version, ids)
}

func (r *recent) loadLocked(stream string, version int64, ids []uuid.UUID) {
	r.dropLocked(stream)
	t := &streamTail{stream: stream, version: version, set: make(map[uuid.UUID]int, len(ids))}
	r.addLocked(t, ids, max(r.window, len(ids)))
	r.streams[stream] = r.lru.PushFront(t)
	for r.lru.Len() > r.maxStreams {
		r.dropLocked(r.lru.Back().Value.(*streamTail).stream)
	}
}

// appended records that ids were stored, moving stream from version from
// to version to. If what was known does not end at from, it is forgotten.
func (r *recent) appended(stream string, from, to int64, ids []uuid.UUID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.streams[stream]
	switch {
	case ok && el.Value.(*streamTail).version == from:
	case from == domain.NoStream:
		// A stream this append created: all of it is known.
		r.loadLocked(stream, to, ids)
		return
	default:
		r.dropLocked(stream)
		return
	}
	t := el.Value.(*streamTail)
	t.version = to
	// Keep the whole batch: a retry of it must find every id.
	r.addLocked(t, ids, max(r.window, len(ids)))
	r.lru.MoveToFront(el)
}

func (r *recent) forget(stream string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropLocked(stream)
}

func (r *recent) dropLocked(stream string) {
	if el, ok := r.streams[stream]; ok {
		r.lru.Remove(el)
		delete(r.streams, stream)
	}
}

// addLocked adds ids to t and keeps its newest keep ids.
func (r *recent) addLocked(t *streamTail, ids []uuid.UUID, keep int) {
	for _, id := range ids {
		t.set[id]++
	}
	t.ids = append(t.ids, ids...)
	if extra := len(t.ids) - keep; extra > 0 {
		for _, id := range t.ids[:extra] {
			if t.set[id]--; t.set[id] <= 0 {
				delete(t.set, id)
			}
		}
		// Reslicing keeps the old array until append reallocates, which
		// copies only the kept ids: amortised, no copy per append.
		t.ids = t.ids[extra:]
	}
}
