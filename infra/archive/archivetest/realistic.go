package archivetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
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

type vehicleReading struct {
	name          string
	lo, hi, start float64
	step          float64
	decimals      int
}

// vehicleReadings are cmd/loadgen's.
var vehicleReadings = []vehicleReading{
	{"speed_kmh", 0, 130, 50, 1.5, 1},
	{"engine_rpm", 700, 4500, 2000, 60, 0},
	{"engine_load_pct", 0, 100, 40, 2, 1},
	{"throttle_pct", 0, 100, 25, 2, 1},
	{"coolant_temp_c", 70, 105, 88, 0.1, 1},
	{"oil_temp_c", 70, 120, 95, 0.1, 1},
	{"intake_air_temp_c", -10, 60, 25, 0.1, 1},
	{"ambient_temp_c", -20, 40, 12, 0.02, 1},
	{"fuel_level_pct", 0, 100, 70, 0.01, 1},
	{"battery_v", 11.8, 14.6, 13.9, 0.01, 2},
	{"odometer_km", 0, 1e7, 48213.4, 0.014, 1},
	{"tire_fl_kpa", 180, 260, 230, 0.2, 0},
	{"tire_fr_kpa", 180, 260, 231, 0.2, 0},
	{"tire_rl_kpa", 180, 260, 228, 0.2, 0},
	{"tire_rr_kpa", 180, 260, 229, 0.2, 0},
	{"fuel_rate_lph", 0, 40, 6, 0.3, 2},
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
		rng := rand.New(rand.NewPCG(uint64(vi)+1, 7))
		vals := make([]float64, len(vehicleReadings))
		for i, r := range vehicleReadings {
			vals[i] = r.start
		}
		lat, lon := 50.0+rng.Float64()/10, 19.9+rng.Float64()/10
		heading := rng.Float64() * 2 * math.Pi
		var es []domain.VehicleEvent
		for i := range per {
			readings := make(map[string]float64, len(vehicleReadings))
			for j, r := range vehicleReadings {
				vals[j] = math.Min(r.hi, math.Max(r.lo, vals[j]+rng.NormFloat64()*r.step))
				readings[r.name] = round(vals[j], r.decimals)
			}
			heading += rng.NormFloat64() * 0.05
			meters := vals[0] / 3.6
			lat += meters * math.Cos(heading) / 111_320
			lon += meters * math.Sin(heading) / (111_320 * math.Cos(lat*math.Pi/180))
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
