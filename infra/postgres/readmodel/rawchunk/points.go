package rawchunk

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Point is one station measurement of a series (a station's measurement
// type): the series itself is not in the chunk.
type Point struct {
	MeasuredAt time.Time
	Value      float64
	ID         string // the measurement id
	RecordedAt time.Time
}

// comparePoints orders points by instant (never by a monotonic clock
// reading: the chunk keeps none), then id.
func comparePoints(a, b *Point) int {
	if c := a.MeasuredAt.Round(0).Compare(b.MeasuredAt.Round(0)); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// AppendPoints appends a chunk of ps to dst. The points must be sorted by
// MeasuredAt, then ID (ErrUnsorted otherwise; equal pairs may repeat), and
// at most MaxPoints (ErrTooLarge).
func (c *Codec) AppendPoints(dst []byte, ps []Point) ([]byte, error) {
	n := len(ps)
	if n > MaxPoints {
		return dst, fmt.Errorf("%w: %d points, at most %d", ErrTooLarge, n, MaxPoints)
	}
	text := 0
	for i := range ps {
		if i > 0 && comparePoints(&ps[i-1], &ps[i]) > 0 {
			return dst, fmt.Errorf("%w: point %d (%s, %q) sorts before point %d", ErrUnsorted, i, ps[i].MeasuredAt, ps[i].ID, i-1)
		}
		text += len(ps[i].ID)
	}
	if text > MaxTextBytes {
		return dst, fmt.Errorf("%w: ids of %d bytes, at most %d", ErrTooLarge, text, MaxTextBytes)
	}

	e := c.getEncoder()
	defer c.putEncoder(e)
	b := binary.AppendUvarint(e.body[:0], uint64(n))
	b = e.appendTimes(b, n, func(i int) time.Time { return ps[i].MeasuredAt })
	vals := e.floats(n)
	for i := range ps {
		vals[i] = ps[i].Value
	}
	b = e.appendFloats(b, vals)
	ids := e.strs(n)
	for i := range ps {
		ids[i] = ps[i].ID
	}
	b = e.appendStrs(b, ids)
	b = e.appendTimes(b, n, func(i int) time.Time { return ps[i].RecordedAt })
	e.body = b
	if len(b) > MaxBodyBytes {
		return dst, fmt.Errorf("%w: body of %d bytes, at most %d", ErrTooLarge, len(b), MaxBodyBytes)
	}
	return c.appendChunk(dst, kindPoints, b), nil
}

// Points decodes a chunk of station points, in the order they were
// encoded, times in UTC.
func (c *Codec) Points(b []byte) ([]Point, error) {
	return decodeAll(c, b, decodePoints)
}

// EachPoint calls fn with each point of a chunk in order, and stops at the
// first error fn returns, which it returns as is. The whole chunk is
// checked before the first call: fn never sees a point of a corrupt chunk.
// Memory stays that of one chunk, whatever fn keeps.
func (c *Codec) EachPoint(b []byte, fn func(Point) error) error {
	return decodeEach(c, b, decodePoints, fn)
}

// decodePoints decodes the columns of a points chunk into d.
func decodePoints(c *Codec, b []byte, d *decoder) (int, func(int, *Point), error) {
	body, err := c.body(b, kindPoints, &d.body)
	if err != nil {
		return 0, nil, err
	}
	r := &reader{b: body}
	n := r.count(MaxPoints, "point count")
	readTimes(r, n, &d.at)
	d.f, d.ints = readFloats(r, n, d.f[:0], d.ints)
	d.s1 = d.readStrs(r, n, d.s1[:0])
	readTimes(r, n, &d.rec)
	if err := r.end(); err != nil {
		return 0, nil, err
	}
	return n, func(i int, p *Point) {
		p.MeasuredAt, p.Value, p.ID, p.RecordedAt = d.at.at(i), d.f[i], d.s1[i], d.rec.at(i)
	}, nil
}
