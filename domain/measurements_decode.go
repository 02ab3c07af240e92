package domain

import (
	"encoding/json"
	"fmt"
)

// decodeMeasurementsRecorded decodes a MeasurementsRecorded of the log: a
// batch of the shape the log holds is parsed by hand (encoding/json took
// a tenth of a projector's CPU during an import), anything else by
// encoding/json, which gives the same value or error as before.
func decodeMeasurementsRecorded(data []byte) (Event, error) {
	if e, ok := parseMeasurementsRecorded(data); ok {
		return e, nil
	}
	var e MeasurementsRecorded
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode %s: %w", TypeMeasurementsRecorded, err)
	}
	return e, nil
}

// parseMeasurementsRecorded parses a batch of the shape the log holds, in
// any key order and spacing, under the rules of parseVehicleEventsRecorded:
// each field at most once by its exact name, plain ASCII strings without
// escapes, numbers in float64's range, no null; ok is false for anything
// else, which the caller gives to encoding/json. A field added to
// MeasurementsRecorded or Measurement must be added here too, or batches
// with it take the slow (correct) way.
func parseMeasurementsRecorded(data []byte) (MeasurementsRecorded, bool) {
	var e MeasurementsRecorded
	p := batchParser{data: data}
	p.skipSpace()
	if !p.consume('{') {
		return e, false
	}
	var seenStation, seenMeasurements bool
	for first := true; ; first = false {
		key, end, ok := p.nextKey(first, "")
		if !ok {
			return e, false
		}
		if end {
			break
		}
		switch string(key) {
		case "station_id":
			id, ok := p.plainString()
			if !ok || seenStation {
				return e, false
			}
			e.StationID, seenStation = string(id), true
		case "measurements":
			if seenMeasurements || !p.consume('[') {
				return e, false
			}
			seenMeasurements = true
			// Empty but not nil, as encoding/json leaves "measurements": [].
			e.Measurements = make([]Measurement, 0, min((len(p.data)-p.i)/64+1, MaxBatchItems))
			for first := true; ; first = false {
				end, ok := p.nextElement(first)
				if !ok {
					return e, false
				}
				if end {
					break
				}
				m, ok := p.measurement()
				if !ok {
					return e, false
				}
				e.Measurements = append(e.Measurements, m)
			}
		default:
			return e, false
		}
	}
	p.skipSpace()
	return e, p.i == len(data)
}

// measurement reads a measurement object of a batch.
func (p *batchParser) measurement() (Measurement, bool) {
	var m Measurement
	if !p.consume('{') {
		return m, false
	}
	const (
		seenID = 1 << iota
		seenType
		seenValue
		seenMeasuredAt
	)
	seen := 0
	for first := true; ; first = false {
		key, end, ok := p.nextKey(first, "")
		if !ok {
			return m, false
		}
		if end {
			return m, true
		}
		var field int
		switch string(key) {
		case "id":
			field = seenID
			var id []byte
			id, ok = p.plainString()
			m.ID = string(id)
		case "type":
			field = seenType
			m.Type, ok = p.itemType()
		case "value":
			field = seenValue
			m.Value, ok = p.number()
		case "measured_at":
			field = seenMeasuredAt
			ok = p.time(&m.MeasuredAt)
		default:
			ok = false
		}
		if !ok || seen&field != 0 {
			return m, false
		}
		seen |= field
	}
}
