package rawchunk_test

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/devicesim"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

// kind is what the tests need of one kind of chunk (points or vehicle
// events), so that one helper serves both.
type kind[T any] struct {
	encode func(dst []byte, items []T) ([]byte, error)
	decode func(b []byte) ([]T, error)
	each   func(b []byte, fn func(T) error) error
	diff   func(want, got []T) string // "" when the same
	order  func(a, b T) int           // the order the encoder requires
}

func pointsKind(c *rawchunk.Codec) kind[rawchunk.Point] {
	return kind[rawchunk.Point]{c.AppendPoints, c.Points, c.EachPoint, samePoints, byTimeThenID}
}

func eventsKind(c *rawchunk.Codec) kind[rawchunk.VehicleEvent] {
	return kind[rawchunk.VehicleEvent]{c.AppendVehicleEvents, c.VehicleEvents, c.EachVehicleEvent, sameEvents, byTimeThenEID}
}

// collect decodes chunk b with each.
func (k kind[T]) collect(b []byte) ([]T, error) {
	var items []T
	err := k.each(b, func(item T) error { items = append(items, item); return nil })
	return items, err
}

// roundTrip encodes items, checks that both decoders give them back to
// the bit, and returns the chunk.
func roundTrip[T any](t *testing.T, k kind[T], items []T) []byte {
	t.Helper()
	b, err := k.encode(nil, items)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	got, err := k.decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if diff := k.diff(items, got); diff != "" {
		t.Fatalf("decode: %s", diff)
	}
	each, err := k.collect(b)
	if err != nil {
		t.Fatalf("each: %v", err)
	}
	if diff := k.diff(items, each); diff != "" {
		t.Fatalf("each: %s", diff)
	}
	return b
}

func newCodec(tb testing.TB) *rawchunk.Codec {
	tb.Helper()
	c, err := rawchunk.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

var chunkStart = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// stationSeries is what loadgen storage posts: one pm25 reading a minute,
// a random walk with steps of N(0, 0.2) rounded to one decimal, ids
// "store-s0001-<n>". recordedBatches is how many distinct RecordedAt the
// chunk has (the batches it was posted in).
func stationSeries(seed uint64, n, recordedBatches int) []rawchunk.Point {
	rng := rand.New(rand.NewPCG(seed, 42))
	v := 8 + rng.Float64()*20
	ps := make([]rawchunk.Point, n)
	batch := (n + recordedBatches - 1) / recordedBatches
	for i := range ps {
		v = math.Max(0, v+rng.NormFloat64()*0.2)
		at := chunkStart.Add(time.Duration(i) * time.Minute)
		ps[i] = rawchunk.Point{
			MeasuredAt: at,
			Value:      math.Round(v*10) / 10,
			ID:         "store-s0001-" + strconv.Itoa(i),
			// The server's clock when the batch arrived, to the microsecond.
			RecordedAt: chunkStart.Add(time.Duration(i/batch+1)*time.Duration(batch)*time.Minute + 1234567*time.Microsecond),
		}
	}
	return ps
}

// decimal returns v as a device sends it with d decimals, parsed back as
// the command API parses it.
func decimal(v float64, d int) float64 {
	f, err := strconv.ParseFloat(strconv.FormatFloat(v, 'f', d, 64), 64)
	if err != nil {
		panic(err)
	}
	return f
}

// vehicleSamples is what loadgen storage posts: one sample a second with
// devicesim.VehicleReadings and a location moving with the speed, eids
// "store-v0001-<n>", type "telemetry".
func vehicleSamples(seed uint64, n, recordedBatches int) []rawchunk.VehicleEvent {
	walk := devicesim.NewVehicleWalk(seed)
	batch := (n + recordedBatches - 1) / recordedBatches
	es := make([]rawchunk.VehicleEvent, n)
	for i := range es {
		walk.Next()
		readings := make(map[string]float64, len(devicesim.VehicleReadings))
		for j, r := range devicesim.VehicleReadings {
			readings[r.Name] = decimal(walk.Values[j], r.Decimals)
		}
		lat, lon := walk.Lat, walk.Lon
		es[i] = rawchunk.VehicleEvent{
			EID:         "store-v0001-" + strconv.Itoa(i),
			Type:        "telemetry",
			OccurredAt:  chunkStart.Add(time.Duration(i) * time.Second),
			Readings:    readings,
			Lat:         decimal(lat, 6),
			Lon:         decimal(lon, 6),
			HasLocation: true,
			RecordedAt:  chunkStart.Add(time.Duration(i/batch+1)*time.Duration(batch)*time.Second + 7654321*time.Microsecond),
		}
	}
	return es
}

// samePoints reports how got differs from want, or "" when they are the
// same to the bit and the instant, with times in UTC.
func samePoints(want, got []rawchunk.Point) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d points, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		switch {
		case !sameTime(w.MeasuredAt, g.MeasuredAt):
			return fmt.Sprintf("point %d: MeasuredAt %v, want %v", i, g.MeasuredAt, w.MeasuredAt)
		case !sameFloat(w.Value, g.Value):
			return fmt.Sprintf("point %d: Value %v (%#x), want %v (%#x)", i, g.Value, math.Float64bits(g.Value), w.Value, math.Float64bits(w.Value))
		case w.ID != g.ID:
			return fmt.Sprintf("point %d: ID %q, want %q", i, g.ID, w.ID)
		case !sameTime(w.RecordedAt, g.RecordedAt):
			return fmt.Sprintf("point %d: RecordedAt %v, want %v", i, g.RecordedAt, w.RecordedAt)
		}
	}
	return ""
}

func sameEvents(want, got []rawchunk.VehicleEvent) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := &want[i], &got[i]
		switch {
		case w.EID != g.EID || w.Type != g.Type:
			return fmt.Sprintf("event %d: %q %q, want %q %q", i, g.EID, g.Type, w.EID, w.Type)
		case !sameTime(w.OccurredAt, g.OccurredAt):
			return fmt.Sprintf("event %d: OccurredAt %v, want %v", i, g.OccurredAt, w.OccurredAt)
		case !sameTime(w.RecordedAt, g.RecordedAt):
			return fmt.Sprintf("event %d: RecordedAt %v, want %v", i, g.RecordedAt, w.RecordedAt)
		case (w.Readings == nil) != (g.Readings == nil):
			return fmt.Sprintf("event %d: Readings nil %v, want nil %v", i, g.Readings == nil, w.Readings == nil)
		case !maps.EqualFunc(w.Readings, g.Readings, sameFloat):
			return fmt.Sprintf("event %d: Readings %v, want %v", i, g.Readings, w.Readings)
		case w.HasLocation != g.HasLocation || !sameFloat(w.Lat, g.Lat) || !sameFloat(w.Lon, g.Lon):
			return fmt.Sprintf("event %d: location %v %v,%v, want %v %v,%v", i, g.HasLocation, g.Lat, g.Lon, w.HasLocation, w.Lat, w.Lon)
		case (w.Data == nil) != (g.Data == nil) || !bytes.Equal(w.Data, g.Data):
			return fmt.Sprintf("event %d: Data %q (nil %v), want %q (nil %v)", i, g.Data, g.Data == nil, w.Data, w.Data == nil)
		case cap(g.Data) != len(g.Data):
			return fmt.Sprintf("event %d: Data has room for %d bytes past its end", i, cap(g.Data)-len(g.Data))
		}
	}
	return ""
}

func sameTime(want, got time.Time) bool {
	return want.Equal(got) && got.Location() == time.UTC
}

func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// byTimeThenID is the order the encoder requires of points.
func byTimeThenID(a, b rawchunk.Point) int {
	if c := a.MeasuredAt.Compare(b.MeasuredAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// byTimeThenEID is the order the encoder requires of vehicle events.
func byTimeThenEID(a, b rawchunk.VehicleEvent) int {
	if c := a.OccurredAt.Compare(b.OccurredAt); c != 0 {
		return c
	}
	return cmp.Compare(a.EID, b.EID)
}

func sortPoints(ps []rawchunk.Point)        { slices.SortStableFunc(ps, byTimeThenID) }
func sortEvents(es []rawchunk.VehicleEvent) { slices.SortStableFunc(es, byTimeThenEID) }
