package rawchunk

import (
	"encoding/binary"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestInts_EachSequencePicksItsModeAndRoundTrips(t *testing.T) {
	const anyMode = 0xff
	tests := []struct {
		name string
		vs   []int64
		mode byte // anyMode: whichever is smallest
		pow  int
	}{
		{"one value", []int64{42}, intConst, 0},
		{"constant", []int64{-7, -7, -7, -7}, intConst, 0},
		{"regular seconds in nanoseconds", []int64{1e9, 2e9, 3e9, 4e9}, intArith, 9},
		{"two values", []int64{math.MinInt64, math.MaxInt64}, intArith, 0},
		{"random walk", []int64{100, 103, 101, 98, 99, 104, 102}, intDelta, 0},
		{"accelerating", []int64{0, 1000, 2001, 3003, 4006, 5010, 6015, 7021}, intDoD, 0},
		{"long runs", []int64{5, 5, 5, 5, 5, 5, 900000, 900000, 900000, 900000, 900000, 5, 5, 5, 5, 5}, intRuns, 0},
		{"extremes wrap around", []int64{math.MaxInt64, math.MinInt64, 0, math.MaxInt64, -1, math.MinInt64 + 1}, anyMode, 0},
		{"whole seconds, irregular", []int64{1e9, 3e9, 4e9, 11e9, 12e9}, intDelta, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendInts(nil, tc.vs)
			if mode, pow := b[0]&7, int(b[0]>>3); (mode != tc.mode && tc.mode != anyMode) || pow != tc.pow {
				t.Errorf("mode %d, power of ten %d; want %d, %d", mode, pow, tc.mode, tc.pow)
			}
			r := &reader{b: b}
			got := readInts(r, len(tc.vs), nil)
			if err := r.end(); err != nil {
				t.Fatal(err)
			}
			if !slicesEqual(got, tc.vs) {
				t.Fatalf("got %v, want %v", got, tc.vs)
			}
		})
	}
}

func TestFloats_EachColumnPicksItsKind(t *testing.T) {
	negZero := math.Copysign(0, -1)
	tests := []struct {
		name  string
		vs    []float64
		kind  byte
		scale int // for decimal columns
	}{
		{"integers", []float64{230, 231, 229}, floatDecimal, 0},
		{"one decimal", []float64{12.5, 12.7, 12.4, 0.1}, floatDecimal, 1},
		{"coordinates", []float64{50.061234, 50.061301, 50.061377}, floatDecimal, 6},
		{"a negative zero among decimals", []float64{0.1, negZero, 0.2, 0.3}, floatDecimal, 1},
		{"negative zeros only", []float64{negZero, negZero}, floatConst, 0},
		{"thirds", []float64{1.0 / 3, 2.0 / 3, 4.0 / 3}, floatXOR, 0},
		{"huge", []float64{1e300, 2e300, 3e300}, floatXOR, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &encoder{}
			b := e.appendFloats(nil, tc.vs)
			if b[0] != tc.kind || (tc.kind == floatDecimal && int(b[1]) != tc.scale) {
				t.Errorf("kind %d scale %d, want %d %d", b[0], b[1], tc.kind, tc.scale)
			}
			r := &reader{b: b}
			got, _ := readFloats(r, len(tc.vs), nil, nil)
			if err := r.end(); err != nil {
				t.Fatal(err)
			}
			for i := range tc.vs {
				if math.Float64bits(got[i]) != math.Float64bits(tc.vs[i]) {
					t.Fatalf("value %d: %v, want %v", i, got[i], tc.vs[i])
				}
			}
		})
	}
}

func TestStrs_EachColumnPicksItsMode(t *testing.T) {
	tests := []struct {
		name string
		ss   []string
		mode byte
	}{
		{"one id", []string{"a", "a"}, strConst},
		{"numbered", []string{"store-s0001-9", "store-s0001-10", "store-s0001-11"}, strNumber},
		{"zero-padded", []string{"m007", "m010", "m100"}, strNumber},
		{"counting across carries", []string{"x0", "x1", "x9", "x10", "x11", "x99", "x100", "x101", "x999999999999999999"}, strNumber},
		{"zero-padded, counting across carries", []string{"m0098", "m0099", "m0100", "m0101", "m0999", "m1000"}, strNumber},
		{"uuids", []string{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "0190a1b2-c3d5-7000-8000-000000000001"}, strUUID},
		{"few types", strings.Split("a,b,a,b,a,b,a,b", ","), strDict},
		{"free text", []string{"alpha", "alphabet", "beta", "x"}, strFront},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &encoder{}
			b := e.appendStrs(nil, tc.ss)
			if b[0] != tc.mode {
				t.Errorf("mode %d, want %d", b[0], tc.mode)
			}
			r := &reader{b: b}
			got := (&decoder{}).readStrs(r, len(tc.ss), nil)
			if err := r.end(); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tc.ss, "|") {
				t.Fatalf("got %q, want %q", got, tc.ss)
			}
		})
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// craftedChunk is a hand-made uncompressed chunk.
func craftedChunk(kind byte, body ...[]byte) []byte {
	b := []byte{Version, kind, 0}
	for _, part := range body {
		b = append(b, part...)
	}
	return b
}

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// maxDecodeAlloc is the most a decode of any input may allocate: a few
// crafted bytes can claim the most a chunk may hold (every column
// constant), and the chunk limits bound that. The fuzz tests hold every
// decode to it.
const maxDecodeAlloc = 128 << 20

// A few crafted bytes can claim the most a chunk may hold. The decode
// allocates what such a chunk holds, no more, and the limits bound that.
func TestDecode_CraftedChunksAllocateWithinTheLimits(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	constTimes := []byte{timeNanos, intConst, 0}
	constFloat := []byte{floatConst, 0, 0, 0, 0, 0, 0, 0, 0}
	// The longest prefix the text limit lets n numbered ids have.
	numbered := func(n int) []byte {
		prefix := strings.Repeat("p", MaxTextBytes/n-maxDigits)
		return append(append([]byte{strNumber}, appendStr(nil, prefix)...), 0, intConst, 0)
	}
	measure := func(name string, chunk []byte, decode func([]byte) (int, error)) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		n, err := decode(chunk)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes decode to %d items, %.1f MiB allocated", name, len(chunk), n, float64(alloc)/(1<<20))
		if alloc > maxDecodeAlloc {
			t.Errorf("%s: %d bytes allocated, more than %d", name, alloc, maxDecodeAlloc)
		}
	}

	points := craftedChunk(kindPoints, uv(MaxPoints), constTimes, constFloat, numbered(MaxPoints), constTimes)
	measure("points", points, func(b []byte) (int, error) { ps, err := c.Points(b); return len(ps), err })

	for _, perEvent := range []int{1, 4, 16, 256} {
		events := min(MaxEvents, MaxReadings/perEvent)
		var names, columns []byte
		for i := range perEvent {
			names = append(names, appendStr(nil, "r"+strconv.Itoa(1000+i))...)
			columns = append(columns, boolsTrue)
			columns = append(columns, constFloat...)
		}
		vehicles := craftedChunk(kindVehicleEvents, uv(uint64(events)), constTimes, numbered(events), []byte{strConst, 0},
			[]byte{boolsTrue}, uv(uint64(perEvent)), names, columns,
			[]byte{boolsTrue}, constFloat, constFloat,
			[]byte{intConst, 0}, constTimes)
		measure(strconv.Itoa(perEvent)+" readings an event", vehicles, func(b []byte) (int, error) { es, err := c.VehicleEvents(b); return len(es), err })
	}
}
