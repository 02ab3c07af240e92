package archive

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/devicesim"
)

// vehicleHistory records one sample a second per vehicle for d, 16
// readings and a location each (devicesim's walk), in batches of 60.
func (b *logBuilder) vehicleHistory(vehicles int, d time.Duration, start time.Time) {
	per := int(d / time.Second)
	for vi := range vehicles {
		vid := "v-" + strconv.Itoa(vi)
		walk := devicesim.NewVehicleWalk(uint64(vi) + 1)
		var es []domain.VehicleEvent
		for i := range per {
			walk.Next()
			readings := make(map[string]float64, len(devicesim.VehicleReadings))
			for j, r := range devicesim.VehicleReadings {
				p := math.Pow(10, float64(r.Decimals))
				readings[r.Name] = math.Round(walk.Values[j]*p) / p
			}
			at := start.Add(time.Duration(i) * time.Second)
			es = append(es, domain.VehicleEvent{EID: vid + "-" + strconv.Itoa(i), Type: "telemetry", OccurredAt: at, Readings: readings,
				Location: &domain.Location{Lat: math.Round(walk.Lat*1e6) / 1e6, Lon: math.Round(walk.Lon*1e6) / 1e6}})
			if len(es) == 60 || i == per-1 {
				b.add(domain.TelemetryStream(vid), domain.RecordVehicleEvents(vid, es), day.Add(time.Hour))
				es = nil
			}
		}
	}
}

// BenchmarkWriteFile measures, without PostgreSQL, the CPU of one file's
// steps in a run: decoding the events' JSON into rows, sorting, encoding
// and verifying (reading the file back from a directory and comparing),
// per item, for the archive benchmark's station and vehicle data.
//
//	go test ./infra/archive/ -run '^$' -bench WriteFile -cpuprofile cpu.out
func BenchmarkWriteFile(b *testing.B) {
	for _, tc := range []struct {
		name string
		gen  func(*logBuilder)
	}{
		{"station", func(l *logBuilder) { l.stationHistory(20, 3, day) }},
		{"vehicle", func(l *logBuilder) { l.vehicleHistory(10, 30*time.Minute, day) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := newLogBuilder(b)
			tc.gen(l)
			for i := range l.events {
				l.events[i].RecordedAt = day.Add(time.Hour) // one file
			}
			dir, err := NewDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			a := NewArchiver(nil, dir, nil, Config{})
			var decode, write time.Duration
			items := 0
			for b.Loop() {
				t0 := time.Now()
				p := &page{events: l.events, done: make(chan struct{})}
				p.decode()
				if p.err != nil {
					b.Fatal(p.err)
				}
				f := &fileJob{}
				off := 0
				for _, e := range p.metas {
					f.add(e, p.rows[off:off+e.rows])
					off += e.rows
				}
				t1 := time.Now()
				if err := a.write(context.Background(), f, serially); err != nil {
					b.Fatal(err)
				}
				decode += t1.Sub(t0)
				write += time.Since(t1)
				items += len(p.rows)
			}
			b.ReportMetric(float64(decode.Nanoseconds())/float64(items), "decode-ns/item")
			b.ReportMetric(float64(write.Nanoseconds())/float64(items), "write-ns/item")
		})
	}
}
