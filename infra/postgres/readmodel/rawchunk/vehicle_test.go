package rawchunk_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

func roundTripEvents(t *testing.T, c *rawchunk.Codec, es []rawchunk.VehicleEvent) []byte {
	t.Helper()
	return roundTrip(t, eventsKind(c), es)
}

// eventsAt numbers events a second apart from chunkStart.
func eventsAt(es ...rawchunk.VehicleEvent) []rawchunk.VehicleEvent {
	for i := range es {
		es[i].OccurredAt = chunkStart.Add(time.Duration(i) * time.Second)
		es[i].RecordedAt = chunkStart.Add(time.Minute)
		if es[i].EID == "" {
			es[i].EID = "e" + strconv.Itoa(i)
		}
		if es[i].Type == "" {
			es[i].Type = "telemetry"
		}
	}
	return es
}

func TestVehicleEvents_RoundTripKeepsEveryBitInstantAndByte(t *testing.T) {
	c := newCodec(t)
	negZero := math.Copysign(0, -1)
	tests := []struct {
		name string
		es   []rawchunk.VehicleEvent
	}{
		{"no events", nil},
		{"a minute of samples", vehicleSamples(1, 60, 1)},
		{"an hour of samples in 60 batches", vehicleSamples(2, 3600, 60)},
		{"nil and empty readings", eventsAt(
			rawchunk.VehicleEvent{},
			rawchunk.VehicleEvent{Readings: map[string]float64{}},
			rawchunk.VehicleEvent{Readings: map[string]float64{"speed_kmh": 1}},
		)},
		{"names some events lack", eventsAt(
			rawchunk.VehicleEvent{Readings: map[string]float64{"a": 1, "b": 2}},
			rawchunk.VehicleEvent{Readings: map[string]float64{"b": 3, "c": 4}},
			rawchunk.VehicleEvent{Type: "door_opened", Data: []byte(`{"door":"fl"}`)},
			rawchunk.VehicleEvent{Readings: map[string]float64{"": negZero, "a": math.NaN(), "c": 1.0 / 3}},
		)},
		{"data nil, empty and present", eventsAt(
			rawchunk.VehicleEvent{Data: nil},
			rawchunk.VehicleEvent{Data: []byte{}},
			rawchunk.VehicleEvent{Data: []byte(`{"firmware":"1.2.3"}`)},
			rawchunk.VehicleEvent{Data: []byte(`null`)},
			rawchunk.VehicleEvent{Data: []byte{}},
		)},
		{"only empty data", eventsAt(rawchunk.VehicleEvent{Data: []byte{}}, rawchunk.VehicleEvent{Data: []byte{}})},
		{"some events located", eventsAt(
			rawchunk.VehicleEvent{HasLocation: true, Lat: 50.061234, Lon: 19.937654},
			rawchunk.VehicleEvent{},
			rawchunk.VehicleEvent{HasLocation: true, Lat: negZero, Lon: 0},
			rawchunk.VehicleEvent{HasLocation: true, Lat: -89.999999, Lon: 179.999999},
		)},
		{"types from a dictionary", eventsAt(func() []rawchunk.VehicleEvent {
			es := make([]rawchunk.VehicleEvent, 40)
			for i := range es {
				es[i].Type = []string{"telemetry", "ignition_on", "harsh_braking"}[i%3]
			}
			return es
		}()...)},
		{"uuid eids", eventsAt(func() []rawchunk.VehicleEvent {
			es := make([]rawchunk.VehicleEvent, 30)
			for i := range es {
				es[i].EID = uuid.Must(uuid.NewV7()).String()
			}
			return es
		}()...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roundTripEvents(t, c, tc.es)
		})
	}
}

// randomEvents draws events of varied shapes: sampled telemetry mixed with
// sparse events, names present or not, locations, data.
func randomEvents(rng *rand.Rand) []rawchunk.VehicleEvent {
	n := rng.IntN(200)
	if rng.IntN(4) == 0 {
		n = rng.IntN(6)
	}
	names := []string{"speed_kmh", "engine_rpm", "battery_v", "ambient_temp_c", "x"}
	es := make([]rawchunk.VehicleEvent, n)
	at := chunkStart
	for i := range es {
		at = at.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
		e := rawchunk.VehicleEvent{EID: "v-" + strconv.Itoa(rng.IntN(1000)), Type: "telemetry", OccurredAt: at, RecordedAt: at.Add(time.Duration(rng.IntN(5)) * time.Minute)}
		if rng.IntN(5) == 0 {
			e.Type = "event_" + strconv.Itoa(rng.IntN(3))
		}
		if rng.IntN(6) != 0 {
			e.Readings = map[string]float64{}
			for _, name := range names {
				switch rng.IntN(8) {
				case 0:
				case 1:
					e.Readings[name] = math.Float64frombits(rng.Uint64())
				case 2:
					e.Readings[name] = math.Copysign(0, -1)
				default:
					e.Readings[name] = math.Round(rng.NormFloat64()*1000) / 10
				}
			}
		}
		if rng.IntN(3) != 0 {
			e.HasLocation = true
			e.Lat, e.Lon = math.Round((50+rng.Float64())*1e6)/1e6, math.Round((19+rng.Float64())*1e6)/1e6
		}
		switch rng.IntN(4) {
		case 0:
			e.Data = []byte{}
		case 1:
			e.Data = []byte(`{"n":` + strconv.Itoa(rng.IntN(100)) + `}`)
		}
		es[i] = e
	}
	sortEvents(es)
	return es
}

func TestVehicleEvents_RandomChunksRoundTrip(t *testing.T) {
	c := newCodec(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		roundTripEvents(t, c, randomEvents(rng))
	}
}

func TestAppendVehicleEvents_RefusesWhatItCannotStore(t *testing.T) {
	c := newCodec(t)
	tests := []struct {
		name string
		es   []rawchunk.VehicleEvent
		want error
	}{
		{"unsorted times", []rawchunk.VehicleEvent{{OccurredAt: chunkStart.Add(time.Second)}, {OccurredAt: chunkStart}}, rawchunk.ErrUnsorted},
		{"unsorted eids", []rawchunk.VehicleEvent{{OccurredAt: chunkStart, EID: "b"}, {OccurredAt: chunkStart, EID: "a"}}, rawchunk.ErrUnsorted},
		{"coordinates without a location", []rawchunk.VehicleEvent{{Lat: 50}}, rawchunk.ErrInvalid},
		{"negative zero without a location", []rawchunk.VehicleEvent{{Lon: math.Copysign(0, -1)}}, rawchunk.ErrInvalid},
		{"too many events", make([]rawchunk.VehicleEvent, rawchunk.MaxEvents+1), rawchunk.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.AppendVehicleEvents(nil, tc.es); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVehicleEvents_RefusesWhatIsNotAVehicleChunk(t *testing.T) {
	c := newCodec(t)
	good, err := c.AppendVehicleEvents(nil, vehicleSamples(4, 300, 2))
	if err != nil {
		t.Fatal(err)
	}
	small, err := c.AppendVehicleEvents(nil, eventsAt(rawchunk.VehicleEvent{Data: []byte("{}")}))
	if err != nil {
		t.Fatal(err)
	}
	points, err := c.AppendPoints(nil, stationSeries(1, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VehicleEvents(points); !errors.Is(err, rawchunk.ErrKind) {
		t.Fatalf("a points chunk: err = %v, want ErrKind", err)
	}
	bad := append([]byte(nil), good...)
	bad[0] = 9
	if _, err := c.VehicleEvents(bad); !errors.Is(err, rawchunk.ErrVersion) {
		t.Fatalf("version 9: err = %v, want ErrVersion", err)
	}
	for _, b := range [][]byte{good, small} {
		for i := range len(b) {
			called := false
			err := c.EachVehicleEvent(b[:i], func(rawchunk.VehicleEvent) error { called = true; return nil })
			if !errors.Is(err, rawchunk.ErrCorrupt) || called {
				t.Fatalf("first %d of %d bytes: err = %v, called %v; want ErrCorrupt and no call", i, len(b), err, called)
			}
		}
	}
}

func TestEachVehicleEvent_StopsAtTheCallbacksError(t *testing.T) {
	c := newCodec(t)
	b, err := c.AppendVehicleEvents(nil, vehicleSamples(5, 100, 1))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	calls := 0
	err = c.EachVehicleEvent(b, func(rawchunk.VehicleEvent) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Fatalf("err = %v after %d calls, want %v after 3", err, calls, stop)
	}
}
