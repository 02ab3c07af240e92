package rawchunk_test

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time the process has used (all threads, the
// garbage collector's too).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchKind benchmarks encoding and decoding a chunk of items, reporting
// per item: ns, items/s and bytes of chunk. cpu-ns/op is the CPU time an
// operation used, which other processes on a shared machine do not
// inflate as they do ns/op (the wall time).
func benchKind[T any](b *testing.B, k kind[T], items []T) {
	chunk, err := k.encode(nil, items)
	if err != nil {
		b.Fatal(err)
	}
	n := len(items)
	var cpuStart time.Duration
	start := func(b *testing.B) {
		b.ReportAllocs()
		cpuStart = cpuTime(b)
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64((cpuTime(b)-cpuStart).Nanoseconds())/float64(b.N), "cpu-ns/op")
		perItem := float64(b.Elapsed().Nanoseconds()) / float64(b.N*n)
		b.ReportMetric(perItem, "ns/item")
		b.ReportMetric(1e9/perItem, "items/s")
		b.ReportMetric(float64(len(chunk))/float64(n), "B/item")
	}
	name := strconv.Itoa(n)
	b.Run("encode/"+name, func(b *testing.B) {
		buf := make([]byte, 0, 2*len(chunk))
		start(b)
		for b.Loop() {
			if _, err := k.encode(buf[:0], items); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("decode/"+name, func(b *testing.B) {
		start(b)
		for b.Loop() {
			if _, err := k.decode(chunk); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("each/"+name, func(b *testing.B) {
		start(b)
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
