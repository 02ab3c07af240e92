package archivetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/devicesim"
)

// The storage measurement's realistic telemetry (cmd/loadgen storage), as
// batches a device uploads.

// round is v as a device reports it with that many decimals.
func round(v float64, decimals int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', decimals, 64), 64)
	return f
}

// StationHistory is one pm25 reading a minute per station for days before
// end, a random walk with steps of N(0, 0.2) and one decimal, ids
// "<station>-<n>", in batches of 60.
func StationHistory(stations, days int, end time.Time) []domain.TelemetryBatch {
	per := days * 24 * 60
	first := end.Add(-time.Duration(per) * time.Minute)
	var out []domain.TelemetryBatch
	for s := range stations {
		id := fmt.Sprintf("store-%03d", s)
		rng := rand.New(rand.NewPCG(uint64(s)+1, 42))
		v := 8 + rng.Float64()*20
		var ms []domain.Measurement
		for i := range per {
			v = math.Max(0, v+rng.NormFloat64()*0.2)
			ms = append(ms, domain.Measurement{ID: id + "-" + strconv.Itoa(i), Type: "pm25", Value: round(v, 1),
				MeasuredAt: first.Add(time.Duration(i) * time.Minute)})
			if len(ms) == 60 || i == per-1 {
				out = append(out, domain.RecordMeasurements(id, ms))
				ms = nil
			}
		}
	}
	return out
}

// VehicleHistory is one sample a second per vehicle for d before end: 16
// bounded random-walk readings and a location moving with the speed, eids
// "<vid>-<n>", in batches of 60.
func VehicleHistory(vehicles int, d time.Duration, end time.Time) []domain.TelemetryBatch {
	per := int(d / time.Second)
	first := end.Add(-time.Duration(per) * time.Second)
	var out []domain.TelemetryBatch
	for vi := range vehicles {
		vid := fmt.Sprintf("store-v%04d", vi)
		walk := devicesim.NewVehicleWalk(uint64(vi) + 1)
		var es []domain.VehicleEvent
		for i := range per {
			walk.Next()
			readings := make(map[string]float64, len(devicesim.VehicleReadings))
			for j, r := range devicesim.VehicleReadings {
				readings[r.Name] = round(walk.Values[j], r.Decimals)
			}
			lat, lon := walk.Lat, walk.Lon
			es = append(es, domain.VehicleEvent{EID: vid + "-" + strconv.Itoa(i), Type: "telemetry", OccurredAt: first.Add(time.Duration(i) * time.Second),
				Readings: readings, Location: &domain.Location{Lat: round(lat, 6), Lon: round(lon, 6)}})
			if len(es) == 60 || i == per-1 {
				out = append(out, domain.RecordVehicleEvents(vid, es))
				es = nil
			}
		}
	}
	return out
}
