package devicesim

import (
	"math"
	"math/rand/v2"
)

// VehicleReading is one of a realistic vehicle's 16 readings: a bounded
// random walk with the decimals such a sensor reports.
type VehicleReading struct {
	Name          string
	Lo, Hi, Start float64
	Step          float64 // standard deviation of one second's change
	Decimals      int
}

// VehicleReadings are the readings of a vehicle sample in the storage and
// archive measurements (loadgen storage, the archive's benchmark, the raw
// chunk format's tests): about 470 bytes of JSON with a location, like the
// 520-byte sample the fleet sizing is based on.
var VehicleReadings = []VehicleReading{
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

// VehicleWalk is one realistic vehicle second by second: its readings
// walk within their bounds and its location moves with its speed (the
// first reading) along a slowly turning heading. The same seed gives the
// same vehicle.
type VehicleWalk struct {
	// Values are the readings now, in VehicleReadings' order (unrounded).
	Values   []float64
	Lat, Lon float64
	heading  float64
	rng      *rand.Rand
}

// NewVehicleWalk starts a vehicle near Kraków at its readings' start values.
func NewVehicleWalk(seed uint64) *VehicleWalk {
	rng := rand.New(rand.NewPCG(seed, 7))
	w := &VehicleWalk{Values: make([]float64, len(VehicleReadings)), rng: rng}
	for i, r := range VehicleReadings {
		w.Values[i] = r.Start
	}
	w.Lat, w.Lon = 50.0+rng.Float64()/10, 19.9+rng.Float64()/10
	w.heading = rng.Float64() * 2 * math.Pi
	return w
}

// Next moves the vehicle on by one second.
func (w *VehicleWalk) Next() {
	for j, r := range VehicleReadings {
		w.Values[j] = clamp(w.Values[j]+w.rng.NormFloat64()*r.Step, r.Lo, r.Hi)
	}
	w.heading += w.rng.NormFloat64() * 0.05
	meters := w.Values[0] / 3.6
	w.Lat += meters * math.Cos(w.heading) / 111_320
	w.Lon += meters * math.Sin(w.heading) / (111_320 * math.Cos(w.Lat*math.Pi/180))
}
