package domain

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

// MarshalEvent encodes e for the log: the bytes json.Marshal writes. The
// telemetry batches, which carry nearly every byte of the log, are written
// without reflection (json.Marshal took about as long as decoding them:
// every append and every event read back from the archive pays it); an
// event with anything unusual in it (a string to escape, a time outside
// RFC 3339's years, a value JSON cannot hold) goes to json.Marshal, so
// the bytes and the errors are its.
func MarshalEvent(e Event) ([]byte, error) {
	var (
		b  []byte
		ok bool
	)
	switch e := e.(type) {
	case MeasurementsRecorded:
		b, ok = e.appendJSON(make([]byte, 0, 64+96*len(e.Measurements)))
	case VehicleEventsRecorded:
		b, ok = e.appendJSON(make([]byte, 0, 64+512*len(e.Events)))
	}
	if ok {
		return b, nil
	}
	return json.Marshal(e)
}

func (e MeasurementsRecorded) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"station_id":`...)
	b, ok := appendPlainString(b, e.StationID)
	if !ok {
		return nil, false
	}
	b = append(b, `,"measurements":`...)
	if e.Measurements == nil {
		return append(b, "null}"...), true
	}
	b = append(b, '[')
	for i, m := range e.Measurements {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		if m.ID != "" {
			b = append(b, `"id":`...)
			if b, ok = appendPlainString(b, m.ID); !ok {
				return nil, false
			}
			b = append(b, ',')
		}
		b = append(b, `"type":`...)
		if b, ok = appendPlainString(b, m.Type); !ok {
			return nil, false
		}
		b = append(b, `,"value":`...)
		if b, ok = AppendJSONFloat(b, m.Value); !ok {
			return nil, false
		}
		b = append(b, `,"measured_at":`...)
		if b, ok = AppendJSONTime(b, m.MeasuredAt); !ok {
			return nil, false
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), true
}

func (e VehicleEventsRecorded) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"vid":`...)
	b, ok := appendPlainString(b, e.VID)
	if !ok {
		return nil, false
	}
	b = append(b, `,"events":`...)
	if e.Events == nil {
		return append(b, "null}"...), true
	}
	b = append(b, '[')
	var names readingNames
	for i, v := range e.Events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		if v.EID != "" {
			b = append(b, `"eid":`...)
			if b, ok = appendPlainString(b, v.EID); !ok {
				return nil, false
			}
			b = append(b, ',')
		}
		b = append(b, `"type":`...)
		if b, ok = appendPlainString(b, v.Type); !ok {
			return nil, false
		}
		b = append(b, `,"occurred_at":`...)
		if b, ok = AppendJSONTime(b, v.OccurredAt); !ok {
			return nil, false
		}
		if len(v.Readings) > 0 {
			b = append(b, `,"readings":{`...)
			if b, ok = names.appendReadings(b, v.Readings); !ok {
				return nil, false
			}
			b = append(b, '}')
		}
		if v.Location != nil {
			b = append(b, `,"location":{"lat":`...)
			if b, ok = AppendJSONFloat(b, v.Location.Lat); !ok {
				return nil, false
			}
			b = append(b, `,"lon":`...)
			if b, ok = AppendJSONFloat(b, v.Location.Lon); !ok {
				return nil, false
			}
			b = append(b, '}')
		}
		if len(v.Data) > 0 {
			// json.Marshal writes a RawMessage compacted, and refuses one
			// that is not JSON.
			b = append(b, `,"data":`...)
			var c bytes.Buffer
			if json.Compact(&c, v.Data) != nil {
				return nil, false
			}
			// json.Marshal also escapes these in a RawMessage's strings;
			// it writes such (rare) data itself.
			if bytes.ContainsAny(c.Bytes(), "<>&\u2028\u2029") {
				return nil, false
			}
			b = append(b, c.Bytes()...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), true
}

// readingNames writes the readings of a batch's samples, which mostly have
// the same names: it keeps the last sample's names, sorted as json.Marshal
// sorts a map's keys, each already written as a JSON key. A sample with the
// same names then costs a lookup a name, not a sort of its keys and a check
// of each name (they were a third of a vehicle batch's encoding).
type readingNames struct {
	names []string
	keys  []byte // "name": of each name, one after the other
	ends  []int  // where each name's key ends in keys
}

// appendReadings appends m's entries, in name order, without the braces.
func (r *readingNames) appendReadings(b []byte, m map[string]float64) ([]byte, bool) {
	if len(m) == len(r.names) {
		start := len(b)
		for j, name := range r.names {
			v, ok := m[name]
			if !ok {
				// Other names: start over with them.
				b = b[:start]
				break
			}
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, r.keys[r.keyStart(j):r.ends[j]]...)
			if b, ok = AppendJSONFloat(b, v); !ok {
				return nil, false
			}
			if j == len(r.names)-1 {
				return b, true
			}
		}
	}
	if !r.set(m) {
		return nil, false
	}
	return r.appendReadings(b, m)
}

func (r *readingNames) keyStart(j int) int {
	if j == 0 {
		return 0
	}
	return r.ends[j-1]
}

// set makes m's names the kept ones; false if one is not a plain string.
func (r *readingNames) set(m map[string]float64) bool {
	r.names = slices.Sorted(maps.Keys(m))
	r.keys, r.ends = r.keys[:0], r.ends[:0]
	for _, name := range r.names {
		var ok bool
		if r.keys, ok = appendPlainString(r.keys, name); !ok {
			r.names = r.names[:0]
			return false
		}
		r.keys = append(r.keys, ':')
		r.ends = append(r.ends, len(r.keys))
	}
	return true
}

// appendPlainString appends s quoted when it is printable ASCII that
// json.Marshal writes as it is (no quote, backslash or HTML character to
// escape); ok is false otherwise.
func appendPlainString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return nil, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// AppendJSONFloat appends f as json.Marshal writes a float64: the
// shortest representation, in exponent form below 1e-6 and from 1e21; ok
// is false for NaN and the infinities, which it refuses.
func AppendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// json.Marshal writes e-7, not e-07.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// AppendJSONTime appends t as time.Time's MarshalJSON writes it; ok is
// false where MarshalJSON fails (a year outside 0-9999, a zone offset of a
// day or more).
func AppendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, false
	}
	if _, offset := t.Zone(); offset <= -24*3600 || offset >= 24*3600 {
		return nil, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}
