package readapi

import (
	"encoding/json"
	"time"
)

// The records below are what the Store answers and what the API sends as
// they are; the bodies after them wrap them. Body fields are declared in
// the order of their JSON names, the order the API has always sent.

// Location is where a station stands, or where a vehicle event happened.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Point is one raw measurement.
type Point struct {
	MeasuredAt time.Time `json:"measured_at"`
	Value      float64   `json:"value"`
}

// Day is the aggregate of one local day.
type Day struct {
	Day   string  `json:"day"` // YYYY-MM-DD
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Avg   float64 `json:"avg"`
	Sum   float64 `json:"sum"`
}

// Hour is the aggregate of one local hour; Hour is the instant it starts.
type Hour struct {
	Hour  time.Time `json:"hour"`
	Count int64     `json:"count"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Avg   float64   `json:"avg"`
	Sum   float64   `json:"sum"`
}

// Bucket is the aggregate of one bucket of a bucket projection.
type Bucket struct {
	Start time.Time `json:"start"`
	Count int64     `json:"count"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Avg   float64   `json:"avg"`
	Sum   float64   `json:"sum"`
}

// VehicleEvent is one event a vehicle reported.
type VehicleEvent struct {
	EID        string          `json:"eid"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Readings   json.RawMessage `json:"readings,omitempty"`
	Location   *Location       `json:"location,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// HistoryEntry is one entry of a device's audit trail.
type HistoryEntry struct {
	Type    string          `json:"type"`
	At      time.Time       `json:"at"`
	Version *int64          `json:"version,omitempty"`
	Details json.RawMessage `json:"details"`
	// Cursor is where the entry stands in the trail, to page on from it.
	Cursor HistoryCursor `json:"-"`
}

// Alert is one alert a rule raised, cleared or not.
type Alert struct {
	DeviceID  string     `json:"device_id"`
	Rule      string     `json:"rule"`
	Type      string     `json:"type"`
	RaisedAt  time.Time  `json:"raised_at"`
	ClearedAt *time.Time `json:"cleared_at"`
	Active    bool       `json:"active"`
	Value     float64    `json:"value"`
	Threshold float64    `json:"threshold"`
}

// DeviceStatus says whether a device sends measured data.
type DeviceStatus struct {
	DeviceID       string     `json:"device_id"`
	Kind           Kind       `json:"kind"`
	Online         bool       `json:"online"`
	Since          *time.Time `json:"since"`
	LastMeasuredAt *time.Time `json:"last_measured_at"`
}

// deviceBody is a station (id, location) or a vehicle (vid, vin, plate,
// model, latest readings).
type deviceBody struct {
	ID             string        `json:"id,omitempty"`
	VID            string        `json:"vid,omitempty"`
	Name           string        `json:"name"`
	Location       *Location     `json:"location,omitempty"`
	TimeZone       string        `json:"timezone"`
	VIN            string        `json:"vin,omitempty"`
	Plate          string        `json:"plate,omitempty"`
	Model          string        `json:"model,omitempty"`
	Version        int64         `json:"version"`
	Decommissioned bool          `json:"decommissioned"`
	RegisteredAt   time.Time     `json:"registered_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	Latest         []latestValue `json:"latest,omitempty"`
}

func newDeviceBody(d Device) deviceBody {
	b := deviceBody{Name: d.Name, TimeZone: d.TimeZone, VIN: d.VIN, Plate: d.Plate, Model: d.Model,
		Version: d.Version, Decommissioned: d.Decommissioned, RegisteredAt: d.RegisteredAt, UpdatedAt: d.UpdatedAt}
	if d.Kind == Station {
		b.ID, b.Location = d.ID, d.Location
	} else {
		b.VID = d.ID
	}
	return b
}

// latestValue names a station's values by type and a vehicle's readings by name.
type latestValue struct {
	Type       string    `json:"type,omitempty"`
	Name       string    `json:"name,omitempty"`
	Value      float64   `json:"value"`
	MeasuredAt time.Time `json:"measured_at"`
}

func newLatestValues(kind Kind, ls []Latest) []latestValue {
	out := make([]latestValue, len(ls))
	for i, l := range ls {
		out[i] = latestValue{Value: l.Value, MeasuredAt: l.MeasuredAt}
		if kind == Station {
			out[i].Type = l.Name
		} else {
			out[i].Name = l.Name
		}
	}
	return out
}

type stationList struct {
	Next     string       `json:"next,omitempty"`
	Stations []deviceBody `json:"stations"`
}

type vehicleList struct {
	Next     string       `json:"next,omitempty"`
	Vehicles []deviceBody `json:"vehicles"`
}

type stationLatest struct {
	ID     string        `json:"id"`
	Latest []latestValue `json:"latest"`
}

type pointList struct {
	Points    []Point `json:"points"`
	Truncated bool    `json:"truncated,omitempty"`
}

type dayList struct {
	Days []Day `json:"days"`
}

type dayListAsOf struct {
	AsOf time.Time `json:"as_of"`
	Days []Day     `json:"days"`
}

// measurementsRaw and measurementsDaily answer GET /v1/measurements.
type measurementsRaw struct {
	Points     []Point `json:"points"`
	RangeDays  int     `json:"range_days"`
	Resolution string  `json:"resolution"` // "raw"
	Station    string  `json:"station"`
	Truncated  bool    `json:"truncated,omitempty"`
	Type       string  `json:"type"`
}

type measurementsDaily struct {
	Days       []Day  `json:"days"`
	RangeDays  int    `json:"range_days"`
	Resolution string `json:"resolution"` // "daily"
	Station    string `json:"station"`
	Type       string `json:"type"`
}

type hourList struct {
	Hours []Hour `json:"hours"`
}

type bucketList struct {
	Buckets      []Bucket `json:"buckets"`
	Projection   string   `json:"projection"`
	TimeZone     string   `json:"timezone"`
	WidthSeconds int      `json:"width_seconds"`
}

type eventList struct {
	Events []VehicleEvent `json:"events"`
	Next   string         `json:"next,omitempty"`
}

type historyList struct {
	History []HistoryEntry `json:"history"`
	Next    string         `json:"next,omitempty"`
}

type alertList struct {
	Alerts []Alert `json:"alerts"`
}
