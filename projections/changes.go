package projections

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// DeviceChange is one device lifecycle event as the devices read model sees it.
type DeviceChange struct {
	Event    domain.Event
	DeviceID string
	Version  int64
	At       time.Time
}

// MeasurementRow is one raw station measurement.
type MeasurementRow struct {
	DeviceID      string
	MeasurementID string
	Type          string
	Value         float64
	MeasuredAt    time.Time
	RecordedAt    time.Time // when it entered the log
}

// VehicleEventRow is one raw vehicle event.
type VehicleEventRow struct {
	DeviceID   string
	EID        string
	Type       string
	OccurredAt time.Time
	Readings   map[string]float64 // nil when the event had none
	Location   *domain.Location
	Data       []byte    // JSON object or nil
	RecordedAt time.Time // when it entered the log
}

// SeriesKey names one series: a station's measurement type or a vehicle's reading.
type SeriesKey struct {
	DeviceID string
	Name     string
}

// DayKey names one daily bucket: a series and a local calendar day.
type DayKey struct {
	SeriesKey
	Day time.Time // midnight UTC of the local date
}

// HourKey names one hourly bucket: a series and the instant its local hour
// starts (so the two 01:00 hours of a DST fall-back night stay apart, and
// half-hour zones get their own boundaries).
type HourKey struct {
	SeriesKey
	Hour time.Time
}

// Correction replaces (Value set) or withdraws (Value nil) one raw
// measurement; the buckets it lands in are then recomputed exactly.
type Correction struct {
	DeviceID      string
	MeasurementID string
	Value         *float64
	Zone          *time.Location
	RecordedAt    time.Time    // when the correction entered the log
	Specs         []BucketSpec // operator-defined buckets to recompute too
	// Measured is the measurement's type and time, as the command side
	// found it (nil in corrections recorded before it did).
	Measured *domain.Measured
}

// HistoryRow is one entry of a device's audit trail.
type HistoryRow struct {
	DeviceID  string
	Position  domain.Position
	EventType string
	At        time.Time
	Version   *int64 // the device stream's version; nil for corrections
	Details   []byte // JSON object
}

// AlertKey names one alert: a device's rule raised at an instant.
type AlertKey struct {
	DeviceID string
	Rule     string
	RaisedAt time.Time
}

// AlertRow is an alert as raised (Value, Threshold) and maybe cleared.
type AlertRow struct {
	Type      string
	Value     float64
	Threshold float64
	ClearedAt *time.Time
}

// StatusRow is whether a device is sending measured data, and since when.
type StatusRow struct {
	Online         bool
	LastMeasuredAt time.Time
	Since          time.Time
}

// ReadKeyChange is a read API key created (Revoked false: Name, Devices,
// Hash and At as created) or revoked (At: when).
type ReadKeyChange struct {
	KeyID   string
	Revoked bool
	Name    string
	Devices []string // nil: every device
	Hash    []byte
	At      time.Time
}

// Aggregate is count/sum/min/max of the values in a bucket.
type Aggregate struct {
	Count    int64
	Sum      float64
	Min, Max float64
}

// Add counts v in the aggregate.
func (a *Aggregate) Add(v float64) {
	if a.Count == 0 || v < a.Min {
		a.Min = v
	}
	if a.Count == 0 || v > a.Max {
		a.Max = v
	}
	a.Count++
	a.Sum += v
}

// Point is a value at an instant.
type Point struct {
	Value float64
	At    time.Time
}

// Changes is what one batch of events does to the read models, pre-grouped
// so that each daily bucket and latest value is written once per batch.
type Changes struct {
	Devices       []DeviceChange
	Measurements  []MeasurementRow
	VehicleEvents []VehicleEventRow
	Daily         map[DayKey]*Aggregate
	Hourly        map[HourKey]*Aggregate
	Buckets       map[BucketKey]*Aggregate // of the operator's BucketSpecs
	Latest        map[SeriesKey]Point
	// Corrections apply after the batch's new rows, in log order.
	Corrections []Correction
	History     []HistoryRow
	// Alerts and Status are pre-grouped: one row per alert and device.
	Alerts map[AlertKey]*AlertRow
	Status map[string]StatusRow
	// ReadKeys are the read API keys created and revoked, in log order.
	ReadKeys []ReadKeyChange
	Events   int

	specs []BucketSpec
}

// Items is how many telemetry items (raw measurements and vehicle events)
// the batch holds.
func (c *Changes) Items() int { return len(c.Measurements) + len(c.VehicleEvents) }

// Specs are the bucket projections this batch was computed for.
func (c *Changes) Specs() []BucketSpec { return c.specs }

func newChanges(specs []BucketSpec) *Changes {
	return &Changes{Daily: map[DayKey]*Aggregate{}, Hourly: map[HourKey]*Aggregate{}, Buckets: map[BucketKey]*Aggregate{},
		Latest: map[SeriesKey]Point{}, Alerts: map[AlertKey]*AlertRow{}, Status: map[string]StatusRow{}, specs: specs}
}

// SortedDaily returns the daily buckets in key order: writers that lock rows
// in one order cannot deadlock each other.
func (c *Changes) SortedDaily() []DayKey {
	return sortedKeys(c.Daily, func(a, b DayKey) int {
		return cmp.Or(compareSeries(a.SeriesKey, b.SeriesKey), a.Day.Compare(b.Day))
	})
}

// SortedHourly returns the hourly buckets in key order.
func (c *Changes) SortedHourly() []HourKey {
	return sortedKeys(c.Hourly, func(a, b HourKey) int {
		return cmp.Or(compareSeries(a.SeriesKey, b.SeriesKey), a.Hour.Compare(b.Hour))
	})
}

// SortedBuckets returns the operator-defined buckets in key order.
func (c *Changes) SortedBuckets() []BucketKey {
	return sortedKeys(c.Buckets, func(a, b BucketKey) int {
		return cmp.Or(cmp.Compare(a.Spec, b.Spec), compareSeries(a.SeriesKey, b.SeriesKey), a.Start.Compare(b.Start))
	})
}

// SortedAlerts returns the alerts in key order.
func (c *Changes) SortedAlerts() []AlertKey {
	return sortedKeys(c.Alerts, func(a, b AlertKey) int {
		return cmp.Or(cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.Rule, b.Rule), a.RaisedAt.Compare(b.RaisedAt))
	})
}

// SortedStatus returns the devices whose status changed, in order.
func (c *Changes) SortedStatus() []string {
	return sortedKeys(c.Status, cmp.Compare[string])
}

// SortedLatest returns the latest-value keys in key order.
func (c *Changes) SortedLatest() []SeriesKey {
	return sortedKeys(c.Latest, compareSeries)
}

func compareSeries(a, b SeriesKey) int {
	return cmp.Or(cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.Name, b.Name))
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, compare)
	return keys
}

func (c *Changes) observe(deviceID, name string, v float64, at time.Time, loc *time.Location) {
	series := SeriesKey{DeviceID: deviceID, Name: name}
	b := BucketsOf(at, loc, c.specs)
	key := DayKey{SeriesKey: series, Day: b.Day.Date}
	agg := c.Daily[key]
	if agg == nil {
		agg = &Aggregate{}
		c.Daily[key] = agg
	}
	agg.Add(v)
	hour := HourKey{SeriesKey: series, Hour: b.Hour.Start}
	hagg := c.Hourly[hour]
	if hagg == nil {
		hagg = &Aggregate{}
		c.Hourly[hour] = hagg
	}
	hagg.Add(v)
	for _, sb := range b.Specs {
		bk := BucketKey{Spec: sb.Spec, SeriesKey: series, Start: sb.Start}
		bagg := c.Buckets[bk]
		if bagg == nil {
			bagg = &Aggregate{}
			c.Buckets[bk] = bagg
		}
		bagg.Add(v)
	}
	// Latest by measured time; of two at the same instant the later in the log wins.
	if cur, ok := c.Latest[series]; !ok || !at.Before(cur.At) {
		c.Latest[series] = Point{Value: v, At: at}
	}
}

// zones tracks each device's time zone as the log goes by.
type zones map[string]*time.Location

func (z zones) of(deviceID string) *time.Location {
	if loc, ok := z[deviceID]; ok {
		return loc
	}
	return time.UTC
}

func (z zones) set(deviceID, name string) {
	loc, err := domain.LoadZone(name)
	if err != nil {
		// The command side validated the name; a zone the server's tzdata
		// lacks buckets in UTC rather than stopping the projection.
		loc = time.UTC
	}
	z[deviceID] = loc
}

// add folds one recorded event into the batch's changes.
func (c *Changes) add(r domain.RecordedEvent, z zones) error {
	c.Events++
	e, err := r.Decode()
	if errors.Is(err, domain.ErrUnknownEventType) {
		return nil // written by newer code: a rebuild after upgrading picks it up
	}
	if err != nil {
		return fmt.Errorf("event %s at %s: %w", r.ID, r.Position, err)
	}
	switch e := e.(type) {
	case domain.MeasurementsRecorded:
		loc := z.of(e.StationID)
		for _, m := range e.Measurements {
			c.Measurements = append(c.Measurements, MeasurementRow{
				DeviceID: e.StationID, MeasurementID: m.ID, Type: m.Type, Value: m.Value, MeasuredAt: m.MeasuredAt,
				RecordedAt: r.RecordedAt,
			})
			c.observe(e.StationID, m.Type, m.Value, m.MeasuredAt, loc)
		}
	case domain.VehicleEventsRecorded:
		loc := z.of(e.VID)
		for _, v := range e.Events {
			row := VehicleEventRow{DeviceID: e.VID, EID: v.EID, Type: v.Type, OccurredAt: v.OccurredAt, Location: v.Location, Data: v.Data, RecordedAt: r.RecordedAt}
			if len(v.Readings) > 0 {
				row.Readings = v.Readings
				for name, x := range v.Readings {
					c.observe(e.VID, name, x, v.OccurredAt, loc)
				}
			}
			c.VehicleEvents = append(c.VehicleEvents, row)
		}
	case domain.MeasurementCorrected:
		v := e.Value
		c.Corrections = append(c.Corrections, Correction{DeviceID: e.StationID, MeasurementID: e.MeasurementID, Value: &v, Zone: z.of(e.StationID), RecordedAt: r.RecordedAt, Specs: c.specs, Measured: e.Measured})
		return c.history(r, e.StationID, e.CorrectedAt, false, map[string]any{"id": e.MeasurementID, "value": e.Value, "reason": e.Reason, "actor": e.Actor})
	case domain.MeasurementRetracted:
		c.Corrections = append(c.Corrections, Correction{DeviceID: e.StationID, MeasurementID: e.MeasurementID, Zone: z.of(e.StationID), RecordedAt: r.RecordedAt, Specs: c.specs, Measured: e.Measured})
		return c.history(r, e.StationID, e.RetractedAt, false, map[string]any{"id": e.MeasurementID, "reason": e.Reason, "actor": e.Actor})
	case domain.StationRegistered:
		z.set(e.StationID, e.TimeZone)
		return c.device(r, e, e.StationID, e.RegisteredAt, e.StationProfile)
	case domain.StationUpdated:
		z.set(e.StationID, e.TimeZone)
		return c.device(r, e, e.StationID, e.UpdatedAt, e.StationProfile)
	case domain.VehicleRegistered:
		z.set(e.VID, e.TimeZone)
		return c.device(r, e, e.VID, e.RegisteredAt, e.VehicleProfile)
	case domain.VehicleUpdated:
		z.set(e.VID, e.TimeZone)
		return c.device(r, e, e.VID, e.UpdatedAt, e.VehicleProfile)
	case domain.DeviceDecommissioned:
		return c.device(r, e, e.DeviceID, e.DecommissionedAt, struct{}{})
	case domain.DeviceTokenRotated:
		// The audit trail says a rotation happened, never the hash.
		return c.device(r, e, e.DeviceID, e.RotatedAt, struct{}{})
	case domain.DeviceTokenRevoked:
		return c.device(r, e, e.DeviceID, e.RevokedAt, struct{}{})
	case domain.AlertRaised:
		c.alert(AlertKey{DeviceID: e.DeviceID, Rule: e.Rule, RaisedAt: e.Since}, e.Type, e.Value, e.Threshold)
	case domain.AlertCleared:
		at := e.At
		c.alert(AlertKey{DeviceID: e.DeviceID, Rule: e.Rule, RaisedAt: e.RaisedAt}, e.Type, e.Value, e.Threshold).ClearedAt = &at
	case domain.DeviceWentSilent:
		c.Status[e.DeviceID] = StatusRow{Online: false, LastMeasuredAt: e.LastMeasuredAt, Since: e.At}
	case domain.DeviceResumed:
		c.Status[e.DeviceID] = StatusRow{Online: true, LastMeasuredAt: e.MeasuredAt, Since: e.At}
	case domain.ReadKeyCreated:
		c.ReadKeys = append(c.ReadKeys, ReadKeyChange{KeyID: e.KeyID, Name: e.Name, Devices: e.Devices, Hash: e.KeyHash, At: e.CreatedAt})
	case domain.ReadKeyRevoked:
		c.ReadKeys = append(c.ReadKeys, ReadKeyChange{KeyID: e.KeyID, Revoked: true, At: e.RevokedAt})
	}
	return nil
}

// alert returns the batch's row of an alert; the values of the event that
// first names it stay (a stored alert keeps its raised value).
func (c *Changes) alert(k AlertKey, typ string, value, threshold float64) *AlertRow {
	row := c.Alerts[k]
	if row == nil {
		row = &AlertRow{Type: typ, Value: value, Threshold: threshold}
		c.Alerts[k] = row
	}
	return row
}

func (c *Changes) device(r domain.RecordedEvent, e domain.Event, id string, at time.Time, details any) error {
	c.Devices = append(c.Devices, DeviceChange{Event: e, DeviceID: id, Version: r.StreamVersion, At: at})
	return c.history(r, id, at, true, details)
}

func (c *Changes) history(r domain.RecordedEvent, id string, at time.Time, versioned bool, details any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	row := HistoryRow{DeviceID: id, Position: r.Position, EventType: r.Type, At: at, Details: b}
	if versioned {
		v := r.StreamVersion
		row.Version = &v
	}
	c.History = append(c.History, row)
	return nil
}
