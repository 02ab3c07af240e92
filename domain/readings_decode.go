package domain

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// storedVehicleEvent is VehicleEvent as the log holds it, for decoding
// batch events: the same fields and tags (a test keeps them so), with the
// readings decoded by storedReadings. Requests are decoded into
// VehicleEvent itself, so their errors keep encoding/json's field paths.
type storedVehicleEvent struct {
	EID        string          `json:"eid,omitempty"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Readings   storedReadings  `json:"readings,omitempty"`
	Location   *Location       `json:"location,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type storedVehicleEventsRecorded struct {
	VID    string               `json:"vid"`
	Events []storedVehicleEvent `json:"events"`
}

// decodeVehicleEventsRecorded decodes a VehicleEventsRecorded of the log.
// encoding/json took 13-15 µs a sample (its validity pass, reflection over
// the struct, the readings' maps); every reader of the log (projections,
// rebuilds, the archive) pays it for every vehicle sample. So a batch of the
// shape the log holds is parsed by hand, and anything else goes to
// encoding/json, which gives the same value or error as before.
func decodeVehicleEventsRecorded(data []byte) (Event, error) {
	if e, ok := parseVehicleEventsRecorded(data); ok {
		return e, nil
	}
	var s storedVehicleEventsRecorded
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", TypeVehicleEventsRecorded, err)
	}
	e := VehicleEventsRecorded{VID: s.VID}
	if s.Events != nil {
		e.Events = make([]VehicleEvent, len(s.Events))
	}
	for i, v := range s.Events {
		e.Events[i] = VehicleEvent{EID: v.EID, Type: v.Type, OccurredAt: v.OccurredAt, Readings: v.Readings,
			Location: v.Location, Data: v.Data}
	}
	return e, nil
}

// storedReadings decodes a readings object without reflection when it has
// the shape every stored one has (plain names, numbers); anything else goes
// to encoding/json, so both decode alike.
type storedReadings map[string]float64

// A second "readings" of an event adds to the first, as encoding/json does
// with a map (it used to replace it).
func (r *storedReadings) UnmarshalJSON(data []byte) error {
	if m, ok := parsePlainReadings(data); ok {
		if *r == nil {
			*r = m
			return nil
		}
		for k, v := range m {
			(*r)[k] = v
		}
		return nil
	}
	m := map[string]float64(*r)
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*r = m
	return nil
}

// parsePlainReadings parses a JSON object whose keys are plain ASCII and
// whose values are numbers; ok is false for any other shape (null, an
// escape, a value of another kind, invalid JSON), which the caller decodes
// the general way.
func parsePlainReadings(data []byte) (map[string]float64, bool) {
	p := batchParser{data: data}
	p.skipSpace()
	m, ok := p.readings()
	if !ok {
		return nil, false
	}
	p.skipSpace()
	return m, p.i == len(data)
}

// parseVehicleEventsRecorded parses a batch of the shape the log holds, in
// any key order and spacing: the fields of VehicleEventsRecorded and
// VehicleEvent each at most once, by their exact names; strings of plain
// ASCII without escapes; numbers in float64's range; no null. ok is false
// for anything else, valid JSON or not, which the caller gives to
// encoding/json: its case-insensitive names, last-of-duplicates, nulls and
// unescaping are not repeated here. What this accepts it has fully checked:
// there is no validity pass before it.
func parseVehicleEventsRecorded(data []byte) (VehicleEventsRecorded, bool) {
	var e VehicleEventsRecorded
	p := batchParser{data: data}
	p.skipSpace()
	if !p.consume('{') {
		return e, false
	}
	var seenVID, seenEvents bool
	for first := true; ; first = false {
		key, end, ok := p.nextKey(first, "")
		if !ok {
			return e, false
		}
		if end {
			break
		}
		switch string(key) {
		case "vid":
			vid, ok := p.plainString()
			if !ok || seenVID {
				return e, false
			}
			e.VID, seenVID = string(vid), true
		case "events":
			if seenEvents || !p.consume('[') {
				return e, false
			}
			seenEvents = true
			// Empty but not nil, as encoding/json leaves "events": [].
			e.Events = make([]VehicleEvent, 0, p.eventsCapacity())
			for first := true; ; first = false {
				end, ok := p.nextElement(first)
				if !ok {
					return e, false
				}
				if end {
					break
				}
				v, ok := p.vehicleEvent()
				if !ok {
					return e, false
				}
				e.Events = append(e.Events, v)
			}
		default:
			return e, false
		}
	}
	p.skipSpace()
	return e, p.i == len(data)
}

// batchParser reads a stored batch: data from i on.
type batchParser struct {
	data []byte
	i    int
	// names holds the batch's reading names and event types once: every
	// sample of a vehicle repeats them.
	names map[string]string
	// lastNames are the reading names of the last readings object in
	// order, and lastType the last event type: a sample's names are
	// usually its predecessor's, in the same order, so one comparison
	// finds most of them.
	lastNames []string
	lastType  string
}

// eventsCapacity guesses a batch's events from its size (a realistic
// sample is about 600 bytes of jsonb text), so appending rarely copies.
func (p *batchParser) eventsCapacity() int {
	return min((len(p.data)-p.i)/512+1, MaxBatchItems)
}

func (p *batchParser) skipSpace() { p.i = skipSpace(p.data, p.i) }

// consume takes c if it is the next byte.
func (p *batchParser) consume(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// nextKey reads an object's next key and its colon, the spacing around
// them, and the comma before it unless it is the object's first; end is
// true at the object's closing brace. A comma must be followed by a key:
// "{"a": 1, }" is refused. expected is the key it probably is, or "".
func (p *batchParser) nextKey(first bool, expected string) (key []byte, end, ok bool) {
	p.skipSpace()
	if p.consume('}') {
		return nil, true, true
	}
	if !first {
		if !p.consume(',') {
			return nil, false, false
		}
		p.skipSpace()
	}
	key, ok = p.plainStringLike(expected)
	if !ok {
		return nil, false, false
	}
	p.skipSpace()
	if !p.consume(':') {
		return nil, false, false
	}
	p.skipSpace()
	return key, false, true
}

// nextElement reads up to an array's next element: the comma before it
// unless it is the first, and spacing; end is true at the closing bracket.
// The caller's value parser refuses a bracket after a comma.
func (p *batchParser) nextElement(first bool) (end, ok bool) {
	p.skipSpace()
	if p.consume(']') {
		return true, true
	}
	if !first {
		if !p.consume(',') {
			return false, false
		}
		p.skipSpace()
	}
	return false, true
}

// plainString reads a string of printable ASCII without escapes and returns
// its contents, which encoding/json would decode to the same bytes (it
// unescapes, and replaces invalid UTF-8).
func (p *batchParser) plainString() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start, i := p.i, p.i
	// Eight bytes at a time while none of them ends the string or is one
	// plainString refuses: names and ids are 10 to 20 bytes long.
	for i+8 <= len(p.data) && !hasStringSpecialByte(binary.LittleEndian.Uint64(p.data[i:])) {
		i += 8
	}
	for i < len(p.data) && plainStringByte[p.data[i]] {
		i++
	}
	if i >= len(p.data) || p.data[i] != '"' {
		return nil, false
	}
	p.i = i + 1
	return p.data[start:i], true
}

// plainStringLike is plainString, faster when the string is expected, a
// plain string read before: its bytes are compared, not checked again.
func (p *batchParser) plainStringLike(expected string) ([]byte, bool) {
	start, end := p.i+1, p.i+1+len(expected)
	if expected != "" && end < len(p.data) && p.data[p.i] == '"' && p.data[end] == '"' &&
		string(p.data[start:end]) == expected {
		p.i = end + 1
		return p.data[start:end], true
	}
	return p.plainString()
}

// hasStringSpecialByte tells whether any of the eight bytes in w is below
// 0x20, at least 0x80, a quote or a backslash (the bit tricks of "Bit
// Twiddling Hacks": each term is non-zero exactly when some byte matches).
func hasStringSpecialByte(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	below0x20 := (w - 0x20*ones) & ^w & highs
	return (w&highs)|below0x20|hasZero(w^('"'*ones))|hasZero(w^('\\'*ones)) != 0
}

// plainStringByte tells the bytes plainString takes: printable ASCII but
// the quote and the backslash.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// name returns a reading name or an event type as a string, shared by the
// samples of the batch.
func (p *batchParser) name(b []byte) string {
	if s, ok := p.names[string(b)]; ok {
		return s
	}
	if p.names == nil {
		p.names = make(map[string]string, 32)
	}
	s := string(b)
	p.names[s] = s
	return s
}

// vehicleEvent reads an event object of a batch. A field added to
// VehicleEvent must be added here too, or every batch that has it is
// decoded the slow way (correctly: an unknown key goes to encoding/json).
func (p *batchParser) vehicleEvent() (VehicleEvent, bool) {
	var v VehicleEvent
	if !p.consume('{') {
		return v, false
	}
	const (
		seenEID = 1 << iota
		seenType
		seenOccurredAt
		seenReadings
		seenLocation
		seenData
	)
	seen := 0
	for first := true; ; first = false {
		key, end, ok := p.nextKey(first, "")
		if !ok {
			return v, false
		}
		if end {
			return v, true
		}
		var field int
		switch string(key) {
		case "eid":
			field = seenEID
			var eid []byte
			eid, ok = p.plainString()
			v.EID = string(eid)
		case "type":
			field = seenType
			v.Type, ok = p.itemType()
		case "occurred_at":
			field = seenOccurredAt
			ok = p.time(&v.OccurredAt)
		case "readings":
			field = seenReadings
			v.Readings, ok = p.readings()
		case "location":
			field = seenLocation
			v.Location, ok = p.location()
		case "data":
			field = seenData
			start := p.i
			// null is left to encoding/json: a RawMessage has its own
			// rule for it.
			if p.i < len(p.data) && p.data[p.i] != 'n' {
				ok = p.skipValue(0)
				v.Data = append(json.RawMessage(nil), p.data[start:p.i]...)
			} else {
				ok = false
			}
		default:
			ok = false
		}
		if !ok || seen&field != 0 {
			return v, false
		}
		seen |= field
	}
}

// itemType reads an item's type (a vehicle event's or a measurement's),
// shared by the items of the batch: they mostly repeat the last one.
func (p *batchParser) itemType() (string, bool) {
	typ, ok := p.plainString()
	if ok && string(typ) != p.lastType {
		p.lastType = p.name(typ)
	}
	return p.lastType, ok
}

// time reads a time as encoding/json does for a time.Time: it calls
// UnmarshalJSON with the literal, quotes and all (a plain string has no
// escapes to undo).
func (p *batchParser) time(t *time.Time) bool {
	start := p.i
	if _, ok := p.plainString(); !ok {
		return false
	}
	return t.UnmarshalJSON(p.data[start:p.i]) == nil
}

// readings reads a readings object: plain names, number values. A name
// given twice keeps its last value, as with encoding/json.
func (p *batchParser) readings() (map[string]float64, bool) {
	if !p.consume('{') {
		return nil, false
	}
	m := make(map[string]float64, 16)
	for j := 0; ; j++ {
		expected := ""
		if j < len(p.lastNames) {
			expected = p.lastNames[j]
		}
		key, end, ok := p.nextKey(j == 0, expected)
		if !ok {
			return nil, false
		}
		if end {
			return m, true
		}
		v, ok := p.number()
		if !ok {
			return nil, false
		}
		if j == len(p.lastNames) {
			p.lastNames = append(p.lastNames, "")
		}
		if string(key) != p.lastNames[j] {
			p.lastNames[j] = p.name(key)
		}
		m[p.lastNames[j]] = v
	}
}

// location reads a location object: lat and lon, each at most once.
func (p *batchParser) location() (*Location, bool) {
	if !p.consume('{') {
		return nil, false
	}
	// Its own, as encoding/json allocates it: a location a reader keeps
	// does not keep its batch's others.
	l := new(Location)
	var seenLat, seenLon bool
	for first := true; ; first = false {
		key, end, ok := p.nextKey(first, "")
		if !ok {
			return nil, false
		}
		if end {
			return l, true
		}
		switch string(key) {
		case "lat":
			if seenLat {
				return nil, false
			}
			l.Lat, ok = p.number()
			seenLat = true
		case "lon":
			if seenLon {
				return nil, false
			}
			l.Lon, ok = p.number()
			seenLon = true
		default:
			ok = false
		}
		if !ok {
			return nil, false
		}
	}
}

// number reads a JSON number as encoding/json reads it into a float64;
// ok is false if it is out of float64's range (encoding/json's error).
//
// A number without exponent of at most 15 digits, every reading as
// vehicles send them, is converted here, faster than by ParseFloat and to
// the same value: its digits and the power of ten are exact float64s
// (below 2^53 and 10^22), so IEEE division rounds their quotient
// correctly, as ParseFloat does (its own exact case is this division).
func (p *batchParser) number() (float64, bool) {
	start := p.i
	negative := p.consume('-')
	digitsStart := p.i
	var digits uint64 // wrong when there are more than 19 digits; unused then
	switch {
	case p.consume('0'):
	case p.i < len(p.data) && p.data[p.i] >= '1' && p.data[p.i] <= '9':
		digits = p.readDigits(digits)
	default:
		return 0, false
	}
	digitCount, fractionDigits := p.i-digitsStart, 0
	if p.consume('.') {
		fractionStart := p.i
		digits = p.readDigits(digits)
		fractionDigits = p.i - fractionStart
		if fractionDigits == 0 {
			return 0, false
		}
		digitCount += fractionDigits
	}
	if p.consume('e') || p.consume('E') {
		if !p.consume('+') {
			p.consume('-')
		}
		if !p.skipDigits() {
			return 0, false
		}
	} else if digitCount <= 15 {
		v := float64(digits) / exactPowersOfTen[fractionDigits]
		if negative {
			v = -v
		}
		return v, true
	}
	v, err := strconv.ParseFloat(string(p.data[start:p.i]), 64)
	return v, err == nil
}

var exactPowersOfTen = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// readDigits reads decimal digits, appending them to digits.
func (p *batchParser) readDigits(digits uint64) uint64 {
	for p.i < len(p.data) {
		d := p.data[p.i] - '0'
		if d > 9 {
			break
		}
		digits = digits*10 + uint64(d)
		p.i++
	}
	return digits
}

// skipNumber reads a number of JSON's grammar, no more:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *batchParser) skipNumber() bool {
	p.consume('-')
	switch {
	case p.consume('0'):
	case p.i < len(p.data) && p.data[p.i] >= '1' && p.data[p.i] <= '9':
		p.skipDigits()
	default:
		return false
	}
	if p.consume('.') && !p.skipDigits() {
		return false
	}
	if p.consume('e') || p.consume('E') {
		if !p.consume('+') {
			p.consume('-')
		}
		if !p.skipDigits() {
			return false
		}
	}
	return true
}

// skipDigits reads decimal digits; false if there are none.
func (p *batchParser) skipDigits() bool {
	start := p.i
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// maxDataDepth bounds the nesting of an event's data read here; deeper
// goes to encoding/json, whose own bound (10000, over the whole document)
// it stays far below.
const maxDataDepth = 1000

// skipValue reads any JSON value, checking it as encoding/json's scanner
// does: an event's data, kept as its raw bytes.
func (p *batchParser) skipValue(depth int) bool {
	if p.i >= len(p.data) || depth > maxDataDepth {
		return false
	}
	switch p.data[p.i] {
	case '{':
		p.i++
		for first := true; ; first = false {
			p.skipSpace()
			if p.consume('}') {
				return true
			}
			if !first {
				if !p.consume(',') {
					return false
				}
				p.skipSpace()
			}
			if !p.skipString() {
				return false
			}
			p.skipSpace()
			if !p.consume(':') {
				return false
			}
			p.skipSpace()
			if !p.skipValue(depth + 1) {
				return false
			}
		}
	case '[':
		p.i++
		for first := true; ; first = false {
			end, ok := p.nextElement(first)
			if !ok {
				return false
			}
			if end {
				return true
			}
			if !p.skipValue(depth + 1) {
				return false
			}
		}
	case '"':
		return p.skipString()
	case 't':
		return p.skipLiteral("true")
	case 'f':
		return p.skipLiteral("false")
	case 'n':
		return p.skipLiteral("null")
	default:
		return p.skipNumber()
	}
}

func (p *batchParser) skipLiteral(lit string) bool {
	if len(p.data)-p.i < len(lit) || string(p.data[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

// skipString reads any JSON string: no control characters, valid escapes.
// Like encoding/json's scanner it does not check UTF-8 (a RawMessage keeps
// the bytes as they are).
func (p *batchParser) skipString() bool {
	if !p.consume('"') {
		return false
	}
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i+1 >= len(p.data) {
				return false
			}
			switch p.data[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if len(p.data)-p.i < 6 {
					return false
				}
				for _, h := range p.data[p.i+2 : p.i+6] {
					if !isHexDigit(h) {
						return false
					}
				}
				p.i += 6
			default:
				return false
			}
		default:
			p.i++
		}
	}
	return false
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
