package rawchunk_test

import (
	"strconv"
	"testing"
)

// benchKind benchmarks encoding and decoding a chunk of items, reporting
// per item: ns, items/s and bytes of chunk.
func benchKind[T any](b *testing.B, k kind[T], items []T) {
	chunk, err := k.encode(nil, items)
	if err != nil {
		b.Fatal(err)
	}
	n := len(items)
	report := func(b *testing.B) {
		perItem := float64(b.Elapsed().Nanoseconds()) / float64(b.N*n)
		b.ReportMetric(perItem, "ns/item")
		b.ReportMetric(1e9/perItem, "items/s")
		b.ReportMetric(float64(len(chunk))/float64(n), "B/item")
	}
	name := strconv.Itoa(n)
	b.Run("encode/"+name, func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2*len(chunk))
		for b.Loop() {
			if _, err := k.encode(buf[:0], items); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("decode/"+name, func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.decode(chunk); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("each/"+name, func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := k.each(chunk, func(T) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}

func BenchmarkPoints(b *testing.B) {
	c := newCodec(b)
	for _, n := range []int{60, 1440} {
		benchKind(b, pointsKind(c), stationSeries(1, n, 1))
	}
}

func BenchmarkVehicleEvents(b *testing.B) {
	c := newCodec(b)
	for _, n := range []int{60, 3600} {
		benchKind(b, eventsKind(c), vehicleSamples(1, n, 1))
	}
}
