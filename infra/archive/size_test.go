package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

func sha(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// BenchmarkFileSize reports the archive's bytes per station measurement and
// per vehicle sample for the storage measurement's realistic data (see
// stationHistory, vehicleHistory), in files as the archiver cuts them, and
// the encoding and decoding rates.
//
//	go test ./infra/archive/ -run '^$' -bench FileSize -benchtime 1x
func BenchmarkFileSize(b *testing.B) {
	for _, tc := range []struct {
		name string
		gen  func(*logBuilder)
	}{
		{"station", func(l *logBuilder) { l.stationHistory(20, 7, day) }},
		{"vehicle", func(l *logBuilder) { l.vehicleHistory(10, 20*time.Minute, day) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := newLogBuilder(b)
			tc.gen(l)
			events := l.events
			var items, bytes, nEvents int64
			var encode, decode time.Duration
			for b.Loop() {
				items, bytes, nEvents, encode, decode = 0, 0, 0, 0, 0
				for rest := events; len(rest) > 0; {
					began := time.Now()
					rows, n, sum, err := fileRows(rest, DefaultMaxItems)
					if err != nil {
						b.Fatal(err)
					}
					rest = rest[n:]
					data, sum, err := encodeRows(rows, sum)
					if err != nil {
						b.Fatal(err)
					}
					encode += time.Since(began)
					began = time.Now()
					if _, err := decodeFile("f", data); err != nil {
						b.Fatal(err)
					}
					decode += time.Since(began)
					items += sum.Items
					nEvents += sum.Events
					bytes += int64(len(data))
				}
			}
			b.ReportMetric(float64(bytes)/float64(items), "B/item")
			b.ReportMetric(float64(items), "items")
			b.ReportMetric(float64(nEvents)/encode.Seconds(), "events/s-encode")
			b.ReportMetric(float64(items)/encode.Seconds(), "items/s-encode")
			b.ReportMetric(float64(nEvents)/decode.Seconds(), "events/s-decode")
		})
	}
}
