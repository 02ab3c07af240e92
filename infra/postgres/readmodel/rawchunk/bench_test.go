package rawchunk_test

import (
	"strconv"
	"testing"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

// reportPerItem reports the speed and size of one chunk of n items an
// operation: ns/item, items/s and bytes/item.
func reportPerItem(b *testing.B, n, chunkBytes int) {
	b.Helper()
	perItem := float64(b.Elapsed().Nanoseconds()) / float64(b.N*n)
	b.ReportMetric(perItem, "ns/item")
	b.ReportMetric(1e9/perItem, "items/s")
	b.ReportMetric(float64(chunkBytes)/float64(n), "B/item")
}

func BenchmarkPoints(b *testing.B) {
	c := newCodec(b)
	for _, n := range []int{60, 1440} {
		ps := stationSeries(1, n, 1)
		chunk, err := c.AppendPoints(nil, ps)
		if err != nil {
			b.Fatal(err)
		}
		name := strconv.Itoa(n)
		b.Run("encode/"+name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 2*len(chunk))
			for b.Loop() {
				if _, err := c.AppendPoints(buf[:0], ps); err != nil {
					b.Fatal(err)
				}
			}
			reportPerItem(b, n, len(chunk))
		})
		b.Run("decode/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Points(chunk); err != nil {
					b.Fatal(err)
				}
			}
			reportPerItem(b, n, len(chunk))
		})
		b.Run("each/"+name, func(b *testing.B) {
			b.ReportAllocs()
			sum := 0.0
			for b.Loop() {
				if err := c.EachPoint(chunk, func(p rawchunk.Point) error { sum += p.Value; return nil }); err != nil {
					b.Fatal(err)
				}
			}
			reportPerItem(b, n, len(chunk))
		})
	}
}

func BenchmarkVehicleEvents(b *testing.B) {
	c := newCodec(b)
	for _, n := range []int{60, 3600} {
		es := vehicleSamples(1, n, 1)
		chunk, err := c.AppendVehicleEvents(nil, es)
		if err != nil {
			b.Fatal(err)
		}
		name := strconv.Itoa(n)
		b.Run("encode/"+name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 2*len(chunk))
			for b.Loop() {
				if _, err := c.AppendVehicleEvents(buf[:0], es); err != nil {
					b.Fatal(err)
				}
			}
			reportPerItem(b, n, len(chunk))
		})
		b.Run("decode/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.VehicleEvents(chunk); err != nil {
					b.Fatal(err)
				}
			}
			reportPerItem(b, n, len(chunk))
		})
	}
}
