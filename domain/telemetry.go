package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// MaxBatchItems bounds one telemetry batch.
const MaxBatchItems = 10000

// earliestTelemetry is the oldest instant a device may report.
var earliestTelemetry = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// TelemetryPolicy holds the limits telemetry is checked against.
type TelemetryPolicy struct {
	// MaxFutureSkew is how far ahead of the server's clock a timestamp may be.
	MaxFutureSkew time.Duration
	// CorrectionWindow is how long after its measured time a measurement
	// may still be corrected or retracted (0: always). It is the raw read
	// model's retention: past it the raw values its buckets were computed
	// from are gone, and the buckets could no longer be recomputed exactly.
	CorrectionWindow time.Duration
}

// CheckCorrectable refuses a correction of a measurement measured at at
// when it is past the correction window at now.
func (p TelemetryPolicy) CheckCorrectable(id string, at, now time.Time) error {
	if p.CorrectionWindow > 0 && at.Before(now.Add(-p.CorrectionWindow)) {
		return fmt.Errorf("measurement %q was measured at %s, more than %s ago (the raw retention): its aggregates can no longer be recomputed exactly: %w",
			id, at.UTC().Format(time.RFC3339), p.CorrectionWindow, ErrMeasurementExpired)
	}
	return nil
}

// DefaultTelemetryPolicy allows device clocks 15 minutes ahead.
var DefaultTelemetryPolicy = TelemetryPolicy{MaxFutureSkew: 15 * time.Minute}

func (p TelemetryPolicy) checkTime(i int, field string, t time.Time, now time.Time) error {
	if t.IsZero() {
		return invalidItem(i, field, "is required (RFC 3339)")
	}
	if t.Before(earliestTelemetry) {
		return invalidItem(i, field, "must not be before 1970-01-01")
	}
	if t.After(now.Add(p.MaxFutureSkew)) {
		return invalidItem(i, field, fmt.Sprintf("must not be more than %s in the future", p.MaxFutureSkew))
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Measurement is one station reading as a device reports it. ID may be empty:
// the command side then assigns one.
type Measurement struct {
	ID         string    `json:"id,omitempty"`
	Type       string    `json:"type"`
	Value      float64   `json:"value"`
	MeasuredAt time.Time `json:"measured_at"`
}

// ValidateMeasurements checks a whole batch; the first bad item fails it all.
func (p TelemetryPolicy) ValidateMeasurements(ms []Measurement, now time.Time) error {
	if len(ms) == 0 {
		return invalid("measurements", "must hold at least one measurement")
	}
	if len(ms) > MaxBatchItems {
		return invalid("measurements", fmt.Sprintf("must hold at most %d measurements", MaxBatchItems))
	}
	for i, m := range ms {
		if m.ID != "" && !isItemID(m.ID) {
			return invalidItem(i, "id", "must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
		}
		if !isName(m.Type) {
			return invalidItem(i, "type", "must match ^[a-z][a-z0-9_]{0,63}$")
		}
		if !finite(m.Value) {
			return invalidItem(i, "value", "must be a finite number")
		}
		if err := p.checkTime(i, "measured_at", m.MeasuredAt, now); err != nil {
			return err
		}
	}
	return nil
}

// VehicleEvent is one vehicle telemetry event as a device reports it.
type VehicleEvent struct {
	EID        string             `json:"eid,omitempty"`
	Type       string             `json:"type"`
	OccurredAt time.Time          `json:"occurred_at"`
	Readings   map[string]float64 `json:"readings,omitempty"`
	Location   *Location          `json:"location,omitempty"`
	Data       json.RawMessage    `json:"data,omitempty"`
}

// maxReadings bounds the readings of one vehicle event.
const maxReadings = 256

// ValidateVehicleEvents checks a whole batch; the first bad item fails it all.
func (p TelemetryPolicy) ValidateVehicleEvents(es []VehicleEvent, now time.Time) error {
	if len(es) == 0 {
		return invalid("events", "must hold at least one event")
	}
	if len(es) > MaxBatchItems {
		return invalid("events", fmt.Sprintf("must hold at most %d events", MaxBatchItems))
	}
	for i, e := range es {
		if e.EID != "" && !isItemID(e.EID) {
			return invalidItem(i, "eid", "must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
		}
		if !isName(e.Type) {
			return invalidItem(i, "type", "must match ^[a-z][a-z0-9_]{0,63}$")
		}
		if err := p.checkTime(i, "occurred_at", e.OccurredAt, now); err != nil {
			return err
		}
		if len(e.Readings) > maxReadings {
			return invalidItem(i, "readings", fmt.Sprintf("must hold at most %d readings", maxReadings))
		}
		for name, v := range e.Readings {
			if !isName(name) {
				return invalidItem(i, "readings", fmt.Sprintf("name %q must match ^[a-z][a-z0-9_]{0,63}$", name))
			}
			if !finite(v) {
				return invalidItem(i, "readings."+name, "must be a finite number")
			}
		}
		if e.Location != nil {
			if err := e.Location.validate("location"); err != nil {
				ve := err.(*ValidationError)
				ve.Index = i
				return ve
			}
		}
		if len(e.Data) > 0 && !isJSONObject(e.Data) {
			return invalidItem(i, "data", "must be a JSON object")
		}
		if jsonDepth(e.Data) > MaxDataDepth {
			return invalidItem(i, "data", fmt.Sprintf("must not nest deeper than %d levels", MaxDataDepth))
		}
	}
	return nil
}

// MaxDataDepth bounds the nesting of a vehicle event's free-form data:
// deeper documents are an attack on every reader, not telemetry.
const MaxDataDepth = 32

// jsonDepth returns the deepest nesting of objects and arrays in valid JSON.
func jsonDepth(raw []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range raw {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

func isJSONObject(raw json.RawMessage) bool {
	trimmed := bytes.TrimSpace(raw)
	if bytes.Equal(trimmed, []byte("null")) {
		return true
	}
	return len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed)
}

// Recorded turns a validated measurement into its event.
func (m Measurement) Recorded(stationID string) MeasurementRecorded {
	return MeasurementRecorded{StationID: stationID, MeasurementID: m.ID, Type: m.Type, Value: m.Value, MeasuredAt: m.MeasuredAt.UTC()}
}

// Recorded turns a validated vehicle event into its event.
func (e VehicleEvent) Recorded(vid string) VehicleEventRecorded {
	data := e.Data
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		data = nil
	}
	return VehicleEventRecorded{VID: vid, EID: e.EID, Type: e.Type, OccurredAt: e.OccurredAt.UTC(), Readings: e.Readings, Location: e.Location, Data: data}
}

// CorrectMeasurement decides a correction of measurement id of a station.
func CorrectMeasurement(stationID, id string, value float64, reason, actor string, at time.Time) (MeasurementCorrected, error) {
	if err := validateCorrection(id, reason, actor); err != nil {
		return MeasurementCorrected{}, err
	}
	if !finite(value) {
		return MeasurementCorrected{}, invalid("value", "must be a finite number")
	}
	return MeasurementCorrected{StationID: stationID, MeasurementID: id, Value: value, Reason: reason, Actor: actor, CorrectedAt: at.UTC()}, nil
}

// RetractMeasurement decides a retraction of measurement id of a station.
func RetractMeasurement(stationID, id, reason, actor string, at time.Time) (MeasurementRetracted, error) {
	if err := validateCorrection(id, reason, actor); err != nil {
		return MeasurementRetracted{}, err
	}
	return MeasurementRetracted{StationID: stationID, MeasurementID: id, Reason: reason, Actor: actor, RetractedAt: at.UTC()}, nil
}

func validateCorrection(id, reason, actor string) error {
	if !isItemID(id) {
		return invalid("id", "must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
	}
	if err := validateText("reason", reason, true, 500); err != nil {
		return err
	}
	return validateText("actor", actor, true, 200)
}
