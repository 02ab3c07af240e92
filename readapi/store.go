package readapi

import (
	"context"
	"errors"
	"time"
)

// Store is everything the read API asks the read models: one method per
// question, in the read API's own types. The PostgreSQL adapter is
// infra/postgres/readmodel.Queries. Its methods return an error wrapping
// domain.ErrUnavailable when the read models are out of reach, the
// context's error when the request's time is up, and the sentinels below
// when what was asked for does not exist.
type Store interface {
	DeviceStore
	SeriesStore
	VehicleEventStore
	AlertStore
	FreshnessStore
	KeyStore
	LiveStore
	// Ping says whether the read models can be reached; its error is the
	// readiness answer's message.
	Ping(ctx context.Context) error
}

// Errors of the Store beyond domain.ErrDeviceNotFound and domain.ErrUnavailable.
var (
	ErrEventNotFound      = errors.New("vehicle event not found")
	ErrProjectionNotFound = errors.New("bucket projection not found")
)

// DeviceStore answers what the read models know of a device.
type DeviceStore interface {
	// Device returns one station or vehicle, or domain.ErrDeviceNotFound.
	Device(ctx context.Context, id string) (Device, error)
	// Devices pages through the devices of a kind in id order, from the
	// first id after after.
	Devices(ctx context.Context, kind Kind, after string, limit int) ([]Device, error)
	// Latest returns a device's newest value of each type or reading, by name.
	Latest(ctx context.Context, deviceID string) ([]Latest, error)
	// History pages through a device's audit trail, oldest first, from the
	// first entry after after.
	History(ctx context.Context, deviceID string, after HistoryCursor, limit int) ([]HistoryEntry, error)
	// DeviceStatus says whether a device sends measured data, or returns
	// domain.ErrDeviceNotFound.
	DeviceStatus(ctx context.Context, deviceID string) (DeviceStatus, error)
}

// SeriesStore answers one device's measurement series: raw points and the
// aggregates projected from them.
type SeriesStore interface {
	// Points returns up to q.Limit raw points in time order, and whether
	// the range holds more.
	Points(ctx context.Context, q PointQuery) (points []Point, more bool, err error)
	// Daily returns the daily aggregates of local days q.From to q.To.
	Daily(ctx context.Context, q DayQuery) ([]Day, error)
	// DailyAsOf recomputes daily aggregates from raw rows as they stood at
	// a recorded time, for audits.
	DailyAsOf(ctx context.Context, q AsOfQuery) ([]Day, error)
	// Hourly returns the hourly aggregates starting in [q.From, q.To).
	Hourly(ctx context.Context, q RangeQuery) ([]Hour, error)
	// BucketProjection returns an operator-defined bucket projection, or
	// ErrProjectionNotFound.
	BucketProjection(ctx context.Context, name string) (BucketProjection, error)
	// Buckets returns a bucket projection's buckets starting in [q.From, q.To).
	Buckets(ctx context.Context, projection string, q RangeQuery) ([]Bucket, error)
	// RawRetainedFrom says from when the raw read models keep points
	// (stations) and events (vehicles): older ones were dropped with their
	// partition. Zero means nothing was dropped yet.
	RawRetainedFrom(ctx context.Context) (stations, vehicles time.Time, err error)
	// Export streams rows as PostgreSQL sends them, so memory stays flat
	// whatever the range: begin runs once the query is under way, before
	// the first row, then write runs for each row. An error before begin
	// is the query's; an error from write stops the stream and is returned.
	Export(ctx context.Context, q ExportQuery, begin func(), write func(ExportRow) error) error
}

// VehicleEventStore answers a vehicle's events.
type VehicleEventStore interface {
	// VehicleEvents pages through a vehicle's events, newest first.
	VehicleEvents(ctx context.Context, q VehicleEventQuery) ([]VehicleEvent, error)
	// VehicleEvent returns one event, or ErrEventNotFound.
	VehicleEvent(ctx context.Context, vehicleID, eid string) (VehicleEvent, error)
}

// AlertStore answers the alerts the alert evaluator raised.
type AlertStore interface {
	// Alerts lists alerts newest first.
	Alerts(ctx context.Context, q AlertQuery) ([]Alert, error)
}

// Kind is what a device is.
type Kind string

// The kinds of device.
const (
	Station Kind = "station"
	Vehicle Kind = "vehicle"
)

// Device is a station or vehicle as the read models hold it.
type Device struct {
	ID             string
	Kind           Kind
	Name           string
	Location       *Location // stations only, when known
	TimeZone       string    // IANA name; "" means UTC
	VIN            string
	Plate          string
	Model          string
	Version        int64
	Decommissioned bool
	RegisteredAt   time.Time
	UpdatedAt      time.Time
}

// zone is the zone the device's local days are counted in: UTC when it has
// none, or one this machine does not know.
func (d Device) zone() *time.Location {
	if d.TimeZone != "" {
		if loc, err := time.LoadLocation(d.TimeZone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// Latest is a device's newest value of one measurement type or reading.
type Latest struct {
	Name       string
	Value      float64
	MeasuredAt time.Time
}

// PointQuery asks for raw points of one series in [From, To).
type PointQuery struct {
	StationID, Type string
	From, To        time.Time
	Limit           int
}

// DayQuery asks for the daily aggregates of one series over local dates
// (midnight UTC values) From to To, both included.
type DayQuery struct {
	DeviceID, Name string
	From, To       time.Time
}

// AsOfQuery asks for daily aggregates of one series as they stood at AsOf,
// over the instants [Start, End) that bound the local days, counted in the
// IANA zone Zone.
type AsOfQuery struct {
	StationID, Type string
	Start, End      time.Time
	Zone            string
	AsOf            time.Time
}

// RangeQuery asks for aggregates of one series starting in [From, To).
type RangeQuery struct {
	DeviceID, Name string
	From, To       time.Time
}

// BucketProjection is an operator-defined bucket width and the zone its
// buckets are counted in ("" means each device's own zone).
type BucketProjection struct {
	WidthSeconds int
	Zone         string
}

// VehicleEventQuery asks for a page of a vehicle's events in [From, To),
// of one type or all (Type ""), strictly before the Before cursor.
type VehicleEventQuery struct {
	VehicleID string
	From, To  time.Time
	Type      string
	Before    EventCursor
	Limit     int
}

// AlertQuery asks for alerts of one device (DeviceID "" for all), only the
// ones not cleared when ActiveOnly.
type AlertQuery struct {
	DeviceID   string
	ActiveOnly bool
	Limit      int
}

// Resolution is what an export holds: raw points or aggregates.
type Resolution string

// The resolutions of an export.
const (
	Raw    Resolution = "raw"
	Hourly Resolution = "hourly"
	Daily  Resolution = "daily"
)

// ExportQuery asks for one series of a station at a resolution: instants
// [From, To) for raw and hourly, local dates From to To (both included)
// for daily.
type ExportQuery struct {
	StationID, Type string
	Resolution      Resolution
	From, To        time.Time
}

// ExportRow is one exported row; which fields it holds depends on the
// resolution (exportColumns).
type ExportRow struct {
	At    time.Time // raw: when measured; hourly: the hour's start
	Day   string    // daily: the local date, YYYY-MM-DD
	Value float64   // raw
	Count int64     // aggregates, with Min, Max, Avg and Sum
	Min   float64
	Max   float64
	Avg   float64
	Sum   float64
}
