package projections

import (
	"fmt"
	"regexp"
	"time"
)

// BucketSpec is an extra aggregate an operator adds beside the hourly and
// daily ones: buckets of Width (a whole number of minutes that divides a
// day, e.g. 15m or 6h) in Zone, or in each device's own zone when Zone is nil.
type BucketSpec struct {
	Name  string
	Width time.Duration
	Zone  *time.Location
}

var bucketNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Validate checks that the spec can be computed.
func (s BucketSpec) Validate() error {
	if !bucketNamePattern.MatchString(s.Name) {
		return fmt.Errorf("bucket projection name %q must match ^[a-z][a-z0-9_]{0,31}$", s.Name)
	}
	if s.Width < time.Minute || s.Width%time.Minute != 0 || (24*time.Hour)%s.Width != 0 {
		return fmt.Errorf("bucket width %s must be whole minutes that divide a day (e.g. 15m, 1h, 6h)", s.Width)
	}
	if s.Width > time.Hour && s.Width%time.Hour != 0 {
		return fmt.Errorf("bucket width %s over an hour must be whole hours", s.Width)
	}
	return nil
}

// BucketKey names one bucket of a spec: a series and the bucket's start.
type BucketKey struct {
	Spec string
	SeriesKey
	Start time.Time
}

// Bounds returns the bucket of t: [start, end). Buckets up to an hour are
// cut from the local hour (so both 01:00 hours of a DST fall-back night stay
// apart); longer ones are wall-clock spans from local midnight.
func (s BucketSpec) Bounds(t time.Time, deviceZone *time.Location) (time.Time, time.Time) {
	loc := deviceZone
	if s.Zone != nil {
		loc = s.Zone
	}
	if s.Width <= time.Hour {
		start := localHour(t, loc)
		start = start.Add(t.Sub(start).Truncate(s.Width))
		return start, start.Add(s.Width)
	}
	local := t.In(loc)
	y, m, d := local.Date()
	secs := local.Hour()*3600 + local.Minute()*60 + local.Second()
	w := int(s.Width / time.Second)
	floor := secs - secs%w
	return time.Date(y, m, d, 0, 0, floor, 0, loc).UTC(), time.Date(y, m, d, 0, 0, floor+w, 0, loc).UTC()
}

// Span is the instants [Start, End) a bucket covers.
type Span struct {
	Start, End time.Time
}

// DayBucket is a local calendar day: its date, as midnight UTC of that date
// (the daily aggregate's key), and the instants it starts and ends.
type DayBucket struct {
	Date time.Time
	Span
}

// SpecBucket is the bucket of one operator-defined spec; Start is its key.
type SpecBucket struct {
	Spec string
	Span
}

// Buckets are every bucket one instant of a series lands in.
type Buckets struct {
	Day DayBucket
	// Hour is the local hour; Start is the hourly aggregate's key.
	Hour  Span
	Specs []SpecBucket // one per spec, in the specs' order
}

// BucketsOf returns the buckets instant t lands in for a device in zone:
// its local day, its local hour and its bucket of each spec. New data is
// added to them, and a correction recomputes them: both go through here.
func BucketsOf(t time.Time, zone *time.Location, specs []BucketSpec) Buckets {
	y, m, d := t.In(zone).Date()
	hour := localHour(t, zone)
	b := Buckets{
		Day: DayBucket{Date: time.Date(y, m, d, 0, 0, 0, 0, time.UTC),
			Span: Span{Start: time.Date(y, m, d, 0, 0, 0, 0, zone), End: time.Date(y, m, d+1, 0, 0, 0, 0, zone)}},
		Hour: Span{Start: hour, End: hour.Add(time.Hour)},
	}
	if len(specs) > 0 {
		b.Specs = make([]SpecBucket, len(specs))
		for i, spec := range specs {
			start, end := spec.Bounds(t, zone)
			b.Specs[i] = SpecBucket{Spec: spec.Name, Span: Span{Start: start, End: end}}
		}
	}
	return b
}

// localHour returns the instant t's local hour in loc starts. Local hours
// are whole hours of local time; at a DST change they still last an hour.
func localHour(t time.Time, loc *time.Location) time.Time {
	local := t.In(loc)
	offsetSeconds := local.Minute()*60 + local.Second()
	return t.Add(-time.Duration(offsetSeconds)*time.Second - time.Duration(local.Nanosecond())).UTC()
}
