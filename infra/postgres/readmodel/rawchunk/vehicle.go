package rawchunk

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// VehicleEvent is one event of a vehicle: the vehicle itself is not in the
// chunk.
type VehicleEvent struct {
	EID, Type   string
	OccurredAt  time.Time
	Readings    map[string]float64 // nil and empty are told apart
	Lat, Lon    float64            // zero unless HasLocation
	HasLocation bool
	Data        []byte // a raw JSON object, or nil; nil and empty are told apart
	RecordedAt  time.Time
}

// compareEvents orders events as comparePoints orders points.
func compareEvents(a, b *VehicleEvent) int {
	if c := a.OccurredAt.Round(0).Compare(b.OccurredAt.Round(0)); c != 0 {
		return c
	}
	return strings.Compare(a.EID, b.EID)
}

// AppendVehicleEvents appends a chunk of es to dst. The events must be
// sorted by OccurredAt, then EID (ErrUnsorted otherwise; equal pairs may
// repeat); at most MaxEvents events and MaxReadings readings (ErrTooLarge);
// an event without a location has Lat and Lon zero (ErrInvalid).
func (c *Codec) AppendVehicleEvents(dst []byte, es []VehicleEvent) ([]byte, error) {
	n := len(es)
	if n > MaxEvents {
		return dst, fmt.Errorf("%w: %d events, at most %d", ErrTooLarge, n, MaxEvents)
	}
	eidText, typeText, readings := 0, 0, 0
	for i := range es {
		ev := &es[i]
		if i > 0 && compareEvents(&es[i-1], ev) > 0 {
			return dst, fmt.Errorf("%w: event %d (%s, %q) sorts before event %d", ErrUnsorted, i, ev.OccurredAt, ev.EID, i-1)
		}
		if !ev.HasLocation && (math.Float64bits(ev.Lat) != 0 || math.Float64bits(ev.Lon) != 0) {
			return dst, fmt.Errorf("%w: event %d (%q) has coordinates but no location", ErrInvalid, i, ev.EID)
		}
		eidText += len(ev.EID)
		typeText += len(ev.Type)
		readings += len(ev.Readings)
	}
	if eidText > MaxTextBytes || typeText > MaxTextBytes {
		return dst, fmt.Errorf("%w: eids of %d bytes, types of %d, at most %d", ErrTooLarge, eidText, typeText, MaxTextBytes)
	}
	if readings > MaxReadings {
		return dst, fmt.Errorf("%w: %d readings, at most %d", ErrTooLarge, readings, MaxReadings)
	}

	e := c.getEncoder()
	defer c.putEncoder(e)
	b := binary.AppendUvarint(e.body[:0], uint64(n))
	b = e.appendTimes(b, n, func(i int) time.Time { return es[i].OccurredAt })
	ss := e.strs(n)
	for i := range es {
		ss[i] = es[i].EID
	}
	b = e.appendStrs(b, ss)
	for i := range es {
		ss[i] = es[i].Type
	}
	b = e.appendStrs(b, ss)
	b = e.appendReadings(b, es)

	located := e.bools(n)
	lats, lons := e.floats(n)[:0], e.floats2(n)[:0]
	for i := range es {
		located[i] = es[i].HasLocation
		if es[i].HasLocation {
			lats = append(lats, es[i].Lat)
			lons = append(lons, es[i].Lon)
		}
	}
	b = appendBools(b, located)
	b = e.appendFloats(b, lats)
	b = e.appendFloats(b, lons)

	lens := e.ints(n)
	for i := range es {
		lens[i] = 0
		if es[i].Data != nil {
			lens[i] = int64(len(es[i].Data)) + 1
		}
	}
	b = appendInts(b, lens)
	for i := range es {
		b = append(b, es[i].Data...)
	}
	b = e.appendTimes(b, n, func(i int) time.Time { return es[i].RecordedAt })
	e.body = b
	if len(b) > MaxBodyBytes {
		return dst, fmt.Errorf("%w: body of %d bytes, at most %d", ErrTooLarge, len(b), MaxBodyBytes)
	}
	return c.appendChunk(dst, kindVehicleEvents, b), nil
}

// appendReadings writes which events have a readings map, the sorted
// union of the reading names, and per name which events have it and its
// values.
func (e *encoder) appendReadings(dst []byte, es []VehicleEvent) []byte {
	has := e.bools(len(es))
	if e.nameSet == nil {
		e.nameSet = make(map[string]struct{})
	}
	names := e.names[:0]
	for i := range es {
		has[i] = es[i].Readings != nil
		for name := range es[i].Readings {
			if _, ok := e.nameSet[name]; !ok {
				e.nameSet[name] = struct{}{}
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	e.names = names
	dst = appendBools(dst, has)
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, name := range names {
		dst = appendStr(dst, name)
	}
	vals := e.floats(len(es))
	for _, name := range names {
		vals = vals[:0]
		for i := range es {
			v, ok := es[i].Readings[name]
			has[i] = ok
			if ok {
				vals = append(vals, v)
			}
		}
		dst = appendBools(dst, has)
		dst = e.appendFloats(dst, vals)
	}
	return dst
}

// VehicleEvents decodes a chunk of vehicle events, in the order they were
// encoded, times in UTC. The events' Data slices share one allocation but
// never overlap, and each is capped at its length.
func (c *Codec) VehicleEvents(b []byte) ([]VehicleEvent, error) {
	return decodeAll(c, b, decodeVehicleEvents)
}

// EachVehicleEvent calls fn with each event of a chunk in order, and stops
// at the first error fn returns, which it returns as is. The whole chunk is
// checked before the first call: fn never sees an event of a corrupt chunk.
func (c *Codec) EachVehicleEvent(b []byte, fn func(VehicleEvent) error) error {
	return decodeEach(c, b, decodeVehicleEvents, fn)
}

// vehicleCursor walks the decoded columns of a vehicle chunk event by
// event.
type vehicleCursor struct {
	valueAt []int // per name: index of its next value in d.values
	locAt   int
	data    []byte
	dataAt  int
}

// event sets every field of *ev to event i.
func (v *vehicleCursor) event(d *decoder, i int, ev *VehicleEvent) {
	*ev = VehicleEvent{EID: d.s1[i], Type: d.s2[i], OccurredAt: d.at.at(i), RecordedAt: d.rec.at(i)}
	if d.hasMap[i] {
		count := 0
		for _, p := range d.present {
			if p.at(i) {
				count++
			}
		}
		ev.Readings = make(map[string]float64, count)
		for j, p := range d.present {
			if p.at(i) {
				ev.Readings[d.names[j]] = d.values[j][v.valueAt[j]]
				v.valueAt[j]++
			}
		}
	}
	if d.hasLoc[i] {
		ev.HasLocation, ev.Lat, ev.Lon = true, d.lat[v.locAt], d.lon[v.locAt]
		v.locAt++
	}
	if code := d.data[i]; code > 0 {
		end := v.dataAt + int(code-1)
		ev.Data = v.data[v.dataAt:end:end]
		v.dataAt = end
	}
}

// decodeVehicleEvents decodes the columns of a vehicle chunk into d; its
// events must be built in order.
func decodeVehicleEvents(c *Codec, b []byte, d *decoder) (int, func(int, *VehicleEvent), error) {
	body, err := c.body(b, kindVehicleEvents, &d.body)
	if err != nil {
		return 0, nil, err
	}
	r := &reader{b: body}
	n := r.count(MaxEvents, "event count")
	readTimes(r, n, &d.at)
	d.s1 = d.readStrs(r, n, d.s1[:0])
	d.s2 = d.readStrs(r, n, d.s2[:0])
	v := &vehicleCursor{}
	d.readReadings(r, n, v)

	var located int
	d.hasLoc, located = readBools(r, n, d.hasLoc[:0])
	d.lat, d.ints = readFloats(r, located, d.lat[:0], d.ints)
	d.lon, d.ints = readFloats(r, located, d.lon[:0], d.ints)

	d.data = readInts(r, n, d.data[:0])
	total := 0
	for _, code := range d.data {
		if code < 0 || code-1 > int64(len(r.b)-r.off-total) {
			r.fail("data of %d bytes, %d left", code-1, len(r.b)-r.off-total)
			break
		}
		total += int(max(code-1, 0))
	}
	raw := r.bytes(total)
	if r.err == nil && (total > 0 || slices.Contains(d.data, 1)) {
		// One allocation for all the events' data, copied out of the body
		// (non-nil even when every present Data is empty).
		v.data = append(make([]byte, 0, total), raw...)
	}
	readTimes(r, n, &d.rec)
	if err := r.end(); err != nil {
		return 0, nil, err
	}
	return n, func(i int, ev *VehicleEvent) { v.event(d, i, ev) }, nil
}

// readReadings reads which events have a readings map, the reading names
// and per name its presence and values.
func (d *decoder) readReadings(r *reader, n int, v *vehicleCursor) {
	d.hasMap, _ = readBools(r, n, d.hasMap[:0])
	count := r.count(len(r.b)-r.off, "reading name count")
	names := d.names[:0]
	for i := 0; i < count && r.err == nil; i++ {
		name := r.str()
		if i > 0 && name <= names[i-1] {
			r.fail("reading names out of order: %q after %q", name, names[i-1])
		}
		names = append(names, name)
	}
	d.names = names
	d.present = d.present[:0]
	v.valueAt = make([]int, len(names))
	for len(d.values) < len(names) {
		d.values = append(d.values, nil)
	}
	cells := 0
	for j := range names {
		if r.err != nil {
			return
		}
		p := readPresence(r, n)
		if p.trues == 0 && r.err == nil {
			r.fail("a reading name no event has")
		}
		if cells += p.trues; cells > MaxReadings {
			r.fail("more than %d readings", MaxReadings)
		}
		if r.err != nil {
			return
		}
		for i := range n {
			if p.at(i) && !d.hasMap[i] {
				r.fail("a reading of event %d, which has no readings", i)
				return
			}
		}
		d.present = append(d.present, p)
		d.values[j], d.ints = readFloats(r, p.trues, d.values[j][:0], d.ints)
	}
}
