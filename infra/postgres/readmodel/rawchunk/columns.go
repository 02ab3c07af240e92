package rawchunk

import (
	"math/bits"
	"slices"
	"time"
)

// Time column layouts (the column's first byte).
const (
	timeNanos = 0 // integer column of Unix nanoseconds
	timeWide  = 1 // integer columns of Unix seconds and of nanoseconds 0..999,999,999
)

// Seconds within which every instant is an int64 of Unix nanoseconds.
const (
	minNanosSec = -9_223_372_035
	maxNanosSec = 9_223_372_035
)

// Boolean column modes (the column's first byte).
const (
	boolsFalse  = 0 // every value false
	boolsTrue   = 1 // every value true
	boolsBitmap = 2 // ceil(n/8) bytes, value i is bit i%8 of byte i/8; unused bits zero
)

// encoder holds the scratch space of one encode.
type encoder struct {
	body       []byte
	i1, i2     []int64 // column scratch (floats, strings)
	t1, t2     []int64 // time column scratch
	f, f2      []float64
	s          []string
	b          []bool
	exceptions []int
	dict       map[string]int64
	words      []string
	names      []string
	nameSet    map[string]struct{}
}

func (e *encoder) reset() {
	clear(e.s)
	clear(e.words)
	clear(e.names)
	clear(e.dict)
	clear(e.nameSet)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func (e *encoder) ints(n int) []int64      { e.i1 = grow(e.i1, n); return e.i1 }
func (e *encoder) ints2(n int) []int64     { e.i2 = grow(e.i2, n); return e.i2 }
func (e *encoder) floats(n int) []float64  { e.f = grow(e.f, n); return e.f }
func (e *encoder) floats2(n int) []float64 { e.f2 = grow(e.f2, n); return e.f2 }
func (e *encoder) strs(n int) []string     { e.s = grow(e.s, n); return e.s }
func (e *encoder) bools(n int) []bool      { e.b = grow(e.b, n); return e.b }

// appendTimes appends a time column of at(0) .. at(n-1): instants to the
// nanosecond, whatever their location.
func (e *encoder) appendTimes(dst []byte, n int, at func(int) time.Time) []byte {
	if n == 0 {
		return dst
	}
	ns := grow(e.t1, n)
	e.t1 = ns
	for i := range n {
		t := at(i)
		s := t.Unix()
		if s < minNanosSec || s > maxNanosSec {
			secs, nanos := ns, grow(e.t2, n)
			e.t2 = nanos
			for i := range n {
				t := at(i)
				secs[i], nanos[i] = t.Unix(), int64(t.Nanosecond())
			}
			dst = appendInts(append(dst, timeWide), secs)
			return appendInts(dst, nanos)
		}
		ns[i] = s*1e9 + int64(t.Nanosecond())
	}
	return appendInts(append(dst, timeNanos), ns)
}

// appendBools appends a boolean column; an empty column is no bytes.
func appendBools(dst []byte, vs []bool) []byte {
	if len(vs) == 0 {
		return dst
	}
	trues := 0
	for _, v := range vs {
		if v {
			trues++
		}
	}
	switch trues {
	case 0:
		return append(dst, boolsFalse)
	case len(vs):
		return append(dst, boolsTrue)
	}
	dst = append(dst, boolsBitmap)
	var cur byte
	for i, v := range vs {
		if v {
			cur |= 1 << (i % 8)
		}
		if i%8 == 7 {
			dst, cur = append(dst, cur), 0
		}
	}
	if len(vs)%8 != 0 {
		dst = append(dst, cur)
	}
	return dst
}

// decoder holds the scratch space of one decode.
type decoder struct {
	body        []byte // decompressed body
	ints, ints2 []int64
	offs        []int
	text        []byte
	words       []string

	at, rec        times
	f, lat, lon    []float64
	s1, s2         []string
	hasMap, hasLoc []bool
	names          []string
	present        []presence
	values         [][]float64 // per reading name
	data           []int64
}

func (d *decoder) reset() {
	clear(d.words)
	clear(d.s1)
	clear(d.s2)
	clear(d.names)
	clear(d.present)
}

// times is a decoded time column, kept as integers until an item is
// built.
type times struct {
	wide  bool
	secs  []int64 // Unix nanoseconds, or seconds when wide
	nanos []int64 // when wide
}

func (t *times) at(i int) time.Time {
	if t.wide {
		return time.Unix(t.secs[i], t.nanos[i]).UTC()
	}
	return time.Unix(0, t.secs[i]).UTC()
}

// readTimes reads a time column of n values into t.
func readTimes(r *reader, n int, t *times) {
	t.wide = false
	t.secs = t.secs[:0]
	if n == 0 {
		return
	}
	switch layout := r.byte(); layout {
	case timeNanos:
		t.secs = readInts(r, n, t.secs)
	case timeWide:
		t.wide = true
		t.secs = readInts(r, n, t.secs)
		t.nanos = readInts(r, n, t.nanos[:0])
		for _, ns := range t.nanos {
			if ns < 0 || ns >= 1e9 {
				r.fail("nanoseconds %d", ns)
				return
			}
		}
	default:
		r.fail("time column layout %d", layout)
	}
}

// presence is a decoded boolean column that is not expanded: a bitmap
// stays in the body.
type presence struct {
	mode   byte
	bitmap []byte
	trues  int
}

func (p presence) at(i int) bool {
	switch p.mode {
	case boolsTrue:
		return true
	case boolsBitmap:
		return p.bitmap[i/8]&(1<<(i%8)) != 0
	}
	return false
}

// readPresence reads a boolean column of n values without expanding it.
func readPresence(r *reader, n int) presence {
	if n == 0 {
		return presence{}
	}
	p := presence{mode: r.byte()}
	switch p.mode {
	case boolsFalse:
	case boolsTrue:
		p.trues = n
	case boolsBitmap:
		p.bitmap = r.bytes((n + 7) / 8)
		if r.err != nil {
			return presence{}
		}
		if n%8 != 0 && p.bitmap[len(p.bitmap)-1]>>(n%8) != 0 {
			r.fail("bits set past the last value")
			return presence{}
		}
		for _, b := range p.bitmap {
			p.trues += bits.OnesCount8(b)
		}
	default:
		r.fail("boolean column mode %d", p.mode)
	}
	return p
}

// readBools appends n values of a boolean column to dst.
func readBools(r *reader, n int, dst []bool) ([]bool, int) {
	p := readPresence(r, n)
	if r.err != nil {
		return dst, 0
	}
	dst = slices.Grow(dst, n)
	for i := range n {
		dst = append(dst, p.at(i))
	}
	return dst, p.trues
}
