package rawchunk_test

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/klauspost/compress/zstd"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

// pointsOf builds points a minute apart from values and ids (ids[i] or
// "m<i>" when ids is shorter).
func pointsOf(values []float64, ids ...string) []rawchunk.Point {
	ps := make([]rawchunk.Point, len(values))
	for i, v := range values {
		id := "m" + strconv.Itoa(i)
		if i < len(ids) {
			id = ids[i]
		}
		ps[i] = rawchunk.Point{MeasuredAt: chunkStart.Add(time.Duration(i) * time.Minute), Value: v, ID: id, RecordedAt: chunkStart}
	}
	return ps
}

func roundTripPoints(t *testing.T, c *rawchunk.Codec, ps []rawchunk.Point) []byte {
	t.Helper()
	return roundTrip(t, pointsKind(c), ps)
}

func TestPoints_RoundTripKeepsEveryBitInstantAndByte(t *testing.T) {
	c := newCodec(t)
	negZero := math.Copysign(0, -1)
	uuids := make([]string, 50)
	for i := range uuids {
		uuids[i] = uuid.Must(uuid.NewV7()).String()
	}
	upper := make([]string, 50)
	for i := range upper {
		upper[i] = strings.ToUpper(uuids[i])
	}
	tests := []struct {
		name string
		ps   []rawchunk.Point
	}{
		{"no points", nil},
		{"one point", pointsOf([]float64{12.5})},
		{"an hour of pm25", stationSeries(1, 60, 1)},
		{"a day of pm25 in 24 batches", stationSeries(2, 1440, 24)},
		{"negative zero among decimals", pointsOf([]float64{0.1, negZero, 0.2, -0.1, negZero})},
		{"only negative zeros", pointsOf([]float64{negZero, negZero, negZero})},
		{"not finite", pointsOf([]float64{math.NaN(), math.Inf(1), math.Inf(-1), 1.5, math.Float64frombits(0x7ff8000000000abc)})},
		{"extremes", pointsOf([]float64{math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e300, -1e-300, 1 << 53, 1<<53 + 2, -(1 << 62)})},
		{"thirds", pointsOf([]float64{1.0 / 3, 2.0 / 3, 4.0 / 3, 5.0 / 3, 7.0 / 3, 8.0 / 3})},
		{"mostly one decimal, a few exceptions", pointsOf([]float64{1.1, 1.2, math.Pi, 1.3, 1.4, 1.5, 1.6, 1.7, math.E, 1.8, 1.9, 2.0, 2.1, 2.2, 2.3, 2.4})},
		{"nine decimals", pointsOf([]float64{0.123456789, 0.123456788, 1e-9, -0.000000001})},
		{"constant", pointsOf([]float64{7, 7, 7, 7, 7, 7})},
		{"multiples of a thousand", pointsOf([]float64{1000, 3000, -2000, 0, 1e15, 7000})},
		{"uuid v7 ids", pointsOf(make([]float64, 50), uuids...)},
		{"upper-case uuid ids", pointsOf(make([]float64, 50), upper...)},
		{"zero-padded ids", pointsOf([]float64{1, 2, 3, 4}, "m0001", "m0002", "m0010", "m0999")},
		{"mixed-width padded ids", pointsOf([]float64{1, 2, 3, 4}, "m0001", "m02", "m3", "m0004")},
		{"ids with 18 and 19 digits", pointsOf([]float64{1, 2, 3}, "x999999999999999999", "x1000000000000000000", "x0")},
		{"ids without digits and empty ids", pointsOf([]float64{1, 2, 3, 4}, "", "a", "", "zz")},
		{"ids of any bytes", pointsOf([]float64{1, 2, 3}, "\xff\x00", "é", "\x00\x00\x00")},
		{"one id repeated", pointsOf([]float64{1, 2, 3}, "same", "same", "same")},
		{"few distinct ids", pointsOf(make([]float64, 40), strings.Split(strings.Repeat("a,b,", 20), ",")...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roundTripPoints(t, c, tc.ps)
		})
	}
}

func TestPoints_TimesKeepTheirInstantWhateverTheirRangeAndLocation(t *testing.T) {
	c := newCodec(t)
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		times []time.Time
	}{
		{"nanoseconds", []time.Time{chunkStart.Add(1), chunkStart.Add(999_999_999), chunkStart.Add(time.Hour + 3)}},
		{"a time zone and a monotonic reading", []time.Time{time.Date(2026, 3, 29, 1, 59, 59, 5, warsaw), time.Now(), time.Now().Add(time.Hour)}},
		{"the zero time", []time.Time{{}, {}, chunkStart}},
		{"far past and future", []time.Time{time.Date(1200, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{"irregular whole seconds", []time.Time{chunkStart, chunkStart.Add(17 * time.Second), chunkStart.Add(18 * time.Second), chunkStart.Add(time.Hour)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := make([]rawchunk.Point, len(tc.times))
			for i, at := range tc.times {
				ps[i] = rawchunk.Point{MeasuredAt: at, Value: float64(i), ID: "m" + strconv.Itoa(i), RecordedAt: tc.times[len(tc.times)-1-i]}
			}
			sortPoints(ps)
			roundTripPoints(t, c, ps)
		})
	}
}

// randomPoints draws points from many shapes of data at once: regular or
// jittered times, decimal or arbitrary values, numbered, uuid or free ids.
func randomPoints(rng *rand.Rand) []rawchunk.Point {
	n := rng.IntN(300)
	if rng.IntN(4) == 0 {
		n = rng.IntN(6)
	}
	ps := make([]rawchunk.Point, n)
	step := time.Duration(rng.Int64N(int64(time.Hour)))
	scale := math.Pow10(rng.IntN(12))
	at, recorded := chunkStart.Add(time.Duration(rng.Int64())), chunkStart
	v := rng.NormFloat64() * 100
	for i := range ps {
		switch rng.IntN(4) {
		case 0:
			at = at.Add(step)
		case 1:
			at = at.Add(time.Duration(rng.Int64N(int64(time.Minute))))
		case 2:
			at = at.Add(time.Duration(rng.IntN(3)) * time.Second)
		}
		switch rng.IntN(10) {
		case 0:
			v = math.Float64frombits(rng.Uint64())
		case 1:
			v = math.Copysign(0, -1)
		default:
			v = math.Round((v+rng.NormFloat64())*scale) / scale
		}
		if rng.IntN(20) == 0 {
			recorded = recorded.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		}
		var id string
		switch rng.IntN(3) {
		case 0:
			id = "dev-" + strconv.Itoa(i)
		case 1:
			id = uuid.NewString()
		default:
			id = strconv.FormatUint(rng.Uint64(), 36)
		}
		ps[i] = rawchunk.Point{MeasuredAt: at, Value: v, ID: id, RecordedAt: recorded}
	}
	sortPoints(ps)
	return ps
}

func TestPoints_RandomChunksRoundTrip(t *testing.T) {
	c := newCodec(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		roundTripPoints(t, c, randomPoints(rng))
	}
}

func TestAppendPoints_RefusesUnsortedPoints(t *testing.T) {
	c := newCodec(t)
	tests := []struct {
		name string
		ps   []rawchunk.Point
	}{
		{"earlier time after later", []rawchunk.Point{{MeasuredAt: chunkStart.Add(time.Second), ID: "a"}, {MeasuredAt: chunkStart, ID: "b"}}},
		{"same time, smaller id after larger", []rawchunk.Point{{MeasuredAt: chunkStart, ID: "b"}, {MeasuredAt: chunkStart, ID: "a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.AppendPoints(nil, tc.ps); !errors.Is(err, rawchunk.ErrUnsorted) {
				t.Fatalf("err = %v, want ErrUnsorted", err)
			}
		})
	}
	// Equal (time, id) pairs are in order.
	roundTripPoints(t, c, []rawchunk.Point{{MeasuredAt: chunkStart, ID: "a", Value: 1}, {MeasuredAt: chunkStart, ID: "a", Value: 2}})
}

func TestAppendPoints_RefusesMoreThanMaxPoints(t *testing.T) {
	c := newCodec(t)
	ps := make([]rawchunk.Point, rawchunk.MaxPoints+1)
	if _, err := c.AppendPoints(nil, ps); !errors.Is(err, rawchunk.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	roundTripPoints(t, c, ps[:rawchunk.MaxPoints])
}

func TestAppendPoints_AppendsToDst(t *testing.T) {
	c := newCodec(t)
	ps := stationSeries(3, 100, 1)
	b, err := c.AppendPoints([]byte("prefix"), ps)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:6]) != "prefix" {
		t.Fatalf("dst prefix overwritten: %q", b[:6])
	}
	got, err := c.Points(b[6:])
	if err != nil {
		t.Fatal(err)
	}
	if diff := samePoints(ps, got); diff != "" {
		t.Fatal(diff)
	}
}

func TestAppendPoints_CompressesOnlyWhenItHelps(t *testing.T) {
	c := newCodec(t)
	for _, tc := range []struct {
		n          int
		compressed bool
	}{{1, false}, {5, false}, {1440, true}} {
		b := roundTripPoints(t, c, stationSeries(4, tc.n, 1))
		if got := b[2]&1 == 1; got != tc.compressed {
			t.Errorf("%d points: compressed %v, want %v (%d bytes)", tc.n, got, tc.compressed, len(b))
		}
	}
}

func TestPoints_RefusesWhatIsNotAPointsChunk(t *testing.T) {
	c := newCodec(t)
	good, err := c.AppendPoints(nil, stationSeries(5, 1440, 3))
	if err != nil {
		t.Fatal(err)
	}
	small, err := c.AppendPoints(nil, stationSeries(5, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	vehicles, err := c.AppendVehicleEvents(nil, vehicleSamples(1, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	with := func(b []byte, i int, v byte) []byte {
		b = append([]byte(nil), b...)
		b[i] = v
		return b
	}
	tests := []struct {
		name  string
		chunk []byte
		want  error
	}{
		{"empty", nil, rawchunk.ErrCorrupt},
		{"a future version", with(good, 0, 2), rawchunk.ErrVersion},
		{"version zero", with(good, 0, 0), rawchunk.ErrVersion},
		{"vehicle events", vehicles, rawchunk.ErrKind},
		{"unknown flags", with(good, 2, 0x81), rawchunk.ErrCorrupt},
		{"trailing byte, uncompressed", append(append([]byte(nil), small...), 0), rawchunk.ErrCorrupt},
		{"trailing byte, compressed", append(append([]byte(nil), good...), 0), rawchunk.ErrCorrupt},
		{"body length that lies", with(good, 3, good[3]+1), rawchunk.ErrCorrupt},
		{"damaged frame", with(good, len(good)/2, good[len(good)/2]^0x55), rawchunk.ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Points(tc.chunk); !errors.Is(err, tc.want) {
				t.Fatalf("Points: err = %v, want %v", err, tc.want)
			}
			called := false
			err := c.EachPoint(tc.chunk, func(rawchunk.Point) error { called = true; return nil })
			if !errors.Is(err, tc.want) || called {
				t.Fatalf("EachPoint: err = %v, called %v; want %v and no call", err, called, tc.want)
			}
		})
	}
	for _, b := range [][]byte{good, small} {
		for i := range len(b) {
			if _, err := c.Points(b[:i]); !errors.Is(err, rawchunk.ErrCorrupt) {
				t.Fatalf("first %d of %d bytes: err = %v, want ErrCorrupt", i, len(b), err)
			}
		}
	}
}

func TestEachPoint_StopsAtTheCallbacksError(t *testing.T) {
	c := newCodec(t)
	b, err := c.AppendPoints(nil, stationSeries(6, 100, 1))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	calls := 0
	err = c.EachPoint(b, func(rawchunk.Point) error {
		calls++
		if calls == 10 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 10 {
		t.Fatalf("err = %v after %d calls, want %v after 10", err, calls, stop)
	}
}

func TestCodec_IsSafeForConcurrentUse(t *testing.T) {
	c := newCodec(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				ps := stationSeries(uint64(g*100+i), 200+i, 2)
				b, err := c.AppendPoints(nil, ps)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := c.Points(b)
				if err != nil {
					t.Error(err)
					return
				}
				if diff := samePoints(ps, got); diff != "" {
					t.Error(diff)
					return
				}
				es := vehicleSamples(uint64(g*100+i), 50, 1)
				if b, err = c.AppendVehicleEvents(nil, es); err != nil {
					t.Error(err)
					return
				}
				ges, err := c.VehicleEvents(b)
				if err != nil {
					t.Error(err)
					return
				}
				if diff := sameEvents(es, ges); diff != "" {
					t.Error(diff)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A body that would shrink more than 1024-fold (values that alternate
// between two thirds, each stored as its bits XOR the previous) is stored
// uncompressed, since the decoder refuses such a frame: a few bytes must
// not decompress to megabytes.
func TestAppendPoints_StoresWhatCompressesTooWellUncompressed(t *testing.T) {
	c := newCodec(t)
	values := make([]float64, rawchunk.MaxPoints)
	for i := range values {
		values[i] = float64(1+i%2) / 3
	}
	ps := pointsOf(values)
	for i := range ps {
		ps[i].ID = "same"
	}
	b := roundTripPoints(t, c, ps)
	if b[2]&1 != 0 {
		t.Fatalf("stored compressed (%d bytes)", len(b))
	}
	body := b[3:]
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	frame := enc.EncodeAll(body, nil)
	if len(body) <= 1<<16+1024*len(frame) {
		t.Fatalf("body of %d bytes compresses to %d: not the case this test is about", len(body), len(frame))
	}
	compressed := binary.AppendUvarint([]byte{b[0], b[1], 1}, uint64(len(body)))
	if _, err := c.Points(append(compressed, frame...)); !errors.Is(err, rawchunk.ErrCorrupt) {
		t.Fatalf("a %d-byte frame of a %d-byte body: err = %v, want ErrCorrupt", len(frame), len(body), err)
	}
}
