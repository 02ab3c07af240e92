package rawchunk_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

// byteSource turns fuzz bytes into choices; past the end it gives zeros.
type byteSource struct{ b []byte }

func (s *byteSource) u8() byte {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *byteSource) u64() uint64 {
	var w [8]byte
	n := copy(w[:], s.b)
	s.b = s.b[n:]
	return binary.LittleEndian.Uint64(w[:])
}

func (s *byteSource) str() string {
	n := min(int(s.u8()%12), len(s.b))
	v := string(s.b[:n])
	s.b = s.b[n:]
	return v
}

func (s *byteSource) time(prev time.Time) time.Time {
	switch s.u8() % 5 {
	case 0:
		return prev.Add(time.Minute)
	case 1:
		return prev.Add(time.Duration(s.u64() % uint64(time.Hour)))
	case 2:
		return time.Unix(int64(s.u64()), int64(s.u64()%1e9))
	case 3:
		return prev
	}
	return time.Time{}.Add(time.Duration(s.u64()))
}

func (s *byteSource) float(prev float64) float64 {
	switch s.u8() % 5 {
	case 0:
		return math.Float64frombits(s.u64())
	case 1:
		return float64(int8(s.u8())) / 10
	case 2:
		return math.Copysign(0, -1)
	case 3:
		return prev
	}
	return math.Round(prev*100+float64(int8(s.u8()))) / 100
}

func (s *byteSource) id(i int, prev string) string {
	switch s.u8() % 5 {
	case 0:
		return "dev-s0001-" + strconv.Itoa(i)
	case 1:
		return s.str()
	case 2:
		hi, lo := s.u64(), s.u64()
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
	case 3:
		return prev
	}
	return fmt.Sprintf("m%05d", s.u8())
}

func pointsFrom(s *byteSource) []rawchunk.Point {
	ps := make([]rawchunk.Point, int(s.u8())%80)
	at, rec, v, id := chunkStart, chunkStart, 0.0, ""
	for i := range ps {
		at, rec, v, id = s.time(at), s.time(rec), s.float(v), s.id(i, id)
		ps[i] = rawchunk.Point{MeasuredAt: at, Value: v, ID: id, RecordedAt: rec}
	}
	sortPoints(ps)
	return ps
}

func eventsFrom(s *byteSource) []rawchunk.VehicleEvent {
	es := make([]rawchunk.VehicleEvent, int(s.u8())%40)
	names := []string{"speed_kmh", "engine_rpm", "", "z"}
	at, rec, eid := chunkStart, chunkStart, ""
	for i := range es {
		at, rec, eid = s.time(at), s.time(rec), s.id(i, eid)
		e := rawchunk.VehicleEvent{EID: eid, Type: names[s.u8()%4], OccurredAt: at, RecordedAt: rec}
		if mask := s.u8(); mask&1 != 0 {
			e.Readings = map[string]float64{}
			for j, name := range names {
				if mask&(2<<j) != 0 {
					e.Readings[name] = s.float(0)
				}
			}
		}
		if s.u8()%2 == 0 {
			e.HasLocation, e.Lat, e.Lon = true, s.float(50), s.float(19)
		}
		switch s.u8() % 3 {
		case 0:
			e.Data = []byte(s.str())
		case 1:
			e.Data = []byte{}
		}
		es[i] = e
	}
	sortEvents(es)
	return es
}

// seed adds a chunk to the corpus twice: as encoded, and with its body
// uncompressed, which the fuzzer can mutate column by column (a mutated
// zstd frame mostly fails its checksum).
func seed(f *testing.F, chunk []byte) {
	f.Helper()
	f.Add(chunk)
	if chunk[2]&1 == 0 {
		return
	}
	_, n := binary.Uvarint(chunk[3:])
	dec, err := zstd.NewReader(nil)
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	body, err := dec.DecodeAll(chunk[3+n:], nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{chunk[0], chunk[1], 0}, body...))
}

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// fuzzChunk checks one fuzz input: as a chunk, it decodes to an error or
// to items, never panics, allocates within bounds, and what decodes
// re-encodes to the same; as choices (made), it gives items that
// round-trip.
func fuzzChunk[T any](t *testing.T, k kind[T], data []byte, made []T) {
	var items []T
	var err error
	if n := allocated(func() { items, err = k.decode(data) }); n > rawchunk.MaxDecodeAlloc {
		t.Fatalf("decoding %d bytes allocated %d", len(data), n)
	}
	if err == nil {
		each, err := k.collect(data)
		if err != nil {
			t.Fatalf("decode succeeded, each: %v", err)
		}
		if diff := k.diff(items, each); diff != "" {
			t.Fatalf("each differs from decode: %s", diff)
		}
		if slices.IsSortedFunc(items, k.order) {
			roundTrip(t, k, items)
		}
	}
	roundTrip(t, k, made)
}

func FuzzPoints(f *testing.F) {
	c := newCodec(f)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ps := range [][]rawchunk.Point{nil, stationSeries(1, 3, 1), stationSeries(2, 300, 3), randomPoints(rng), randomPoints(rng)} {
		b, err := c.AppendPoints(nil, ps)
		if err != nil {
			f.Fatal(err)
		}
		seed(f, b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzChunk(t, pointsKind(c), data, pointsFrom(&byteSource{data}))
	})
}

func FuzzVehicleEvents(f *testing.F) {
	c := newCodec(f)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, es := range [][]rawchunk.VehicleEvent{nil, vehicleSamples(1, 3, 1), vehicleSamples(2, 100, 2), randomEvents(rng), randomEvents(rng)} {
		b, err := c.AppendVehicleEvents(nil, es)
		if err != nil {
			f.Fatal(err)
		}
		seed(f, b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzChunk(t, eventsKind(c), data, eventsFrom(&byteSource{data}))
	})
}
