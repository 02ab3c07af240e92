package domain

import (
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
// Decoding its readings with encoding/json's maps took about 70 % of a
// batch's decoding; every reader of the log (projections, rebuilds, the
// archive) pays it for every vehicle sample.
func decodeVehicleEventsRecorded(data []byte) (Event, error) {
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
// to encoding/json, so both decode alike. encoding/json has checked the
// whole document before it calls UnmarshalJSON: data is valid JSON.
type storedReadings map[string]float64

func (r *storedReadings) UnmarshalJSON(data []byte) error {
	if m, ok := parsePlainReadings(data); ok {
		*r = m
		return nil
	}
	var m map[string]float64
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*r = m
	return nil
}

// parsePlainReadings parses a JSON object whose keys are plain ASCII and
// whose values are numbers; ok is false for any other shape (null, an
// escape, a value of another kind), which the caller decodes the general
// way. data must be valid JSON.
func parsePlainReadings(data []byte) (map[string]float64, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	m := make(map[string]float64, 16)
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return m, skipSpace(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, false
		}
		start := i + 1
		j := start
		for j < len(data) && data[j] != '"' {
			// An escape, or a byte encoding/json might replace (invalid
			// UTF-8 becomes U+FFFD): the general way.
			if data[j] == '\\' || data[j] < 0x20 || data[j] >= 0x80 {
				return nil, false
			}
			j++
		}
		if j >= len(data) {
			return nil, false
		}
		key := string(data[start:j])
		i = skipSpace(data, j+1)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		k := i
		for k < len(data) && isNumberByte(data[k]) {
			k++
		}
		if k == i {
			return nil, false
		}
		v, err := strconv.ParseFloat(string(data[i:k]), 64)
		if err != nil {
			// Out of float64's range: encoding/json refuses it too, with
			// its own error.
			return nil, false
		}
		m[key] = v
		i = skipSpace(data, k)
		if i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return m, skipSpace(data, i+1) == len(data)
		default:
			return nil, false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// isNumberByte: the bytes a JSON number is made of (valid JSON, checked
// before, says they form one).
func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
