package devicesim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// physical is the range each simulated quantity lives in.
var physical = map[string]struct{ lo, hi float64 }{
	"pm25":         {0, 1000},   // µg/m³, a concentration
	"pm10":         {0, 1000},   // µg/m³
	"no2":          {0, 1000},   // µg/m³
	"temperature":  {-50, 50},   // °C, outdoors
	"humidity":     {0, 100},    // %
	"speed_kmh":    {0, 130},    // a van on the road, or parked
	"battery_pct":  {0, 100},    // %
	"cabin_temp_c": {-40, 60},   // °C
	"lat":          {-90, 90},   // degrees
	"lon":          {-180, 180}, // degrees
}

// noises yields standard normal draws, then, every few calls, extremes far
// out in the tails (±8 σ), so the ranges hold for the unlucky draw too.
func noises() func() float64 {
	rng := rand.New(rand.NewPCG(7, 11))
	n := 0
	return func() float64 {
		n++
		switch n % 7 {
		case 3:
			return 8
		case 5:
			return -8
		}
		return rng.NormFloat64()
	}
}

// TestSimulatedValues_StayInTheirPhysicalRange samples ten stations and ten
// vans every 10 minutes over 60 days (the battery once showed -96.4 %):
// every quantity stays in its range, PM10 never falls below the PM2.5 it
// contains, and a van charging stands still.
func TestSimulatedValues_StayInTheirPhysicalRange(t *testing.T) {
	check := func(name string, v float64, device int, at time.Time) {
		t.Helper()
		r, ok := physical[name]
		if !ok {
			t.Fatalf("%s has no physical range in this test", name)
		}
		if math.IsNaN(v) || v < r.lo || v > r.hi {
			t.Fatalf("device %d at %s: %s = %v, outside [%v, %v]", device, at.Format(time.RFC3339), name, v, r.lo, r.hi)
		}
	}
	noise := noises()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	charging := 0
	for at := start; at.Before(start.Add(60 * 24 * time.Hour)); at = at.Add(10 * time.Minute) {
		for i := range 10 {
			s := stationSample(i, at, noise)
			for _, typ := range measurementTypes {
				v, ok := s[typ]
				if !ok {
					t.Fatalf("station sample has no %s", typ)
				}
				check(typ, v, i, at)
				seen[typ] = true
			}
			if s["pm10"] < s["pm25"] {
				t.Fatalf("station %d at %s: pm10 %v below pm25 %v", i, at, s["pm10"], s["pm25"])
			}
			readings, loc := vehicleSample(i, at, noise)
			for name, v := range readings {
				check(name, v, i, at)
				seen[name] = true
			}
			for name, v := range loc {
				check(name, v, i, at)
			}
			if readings["battery_pct"] > 20+1 && readings["speed_kmh"] == 0 {
				charging++ // parked and charging, or about to leave
			}
		}
	}
	for name := range physical {
		if name != "lat" && name != "lon" && !seen[name] {
			t.Errorf("%s is never simulated: drop it from this test or simulate it", name)
		}
	}
	if charging == 0 {
		t.Error("no van was ever parked at its charger")
	}
}

func TestPositiveMod_IsInRangeForNegativeInput(t *testing.T) {
	for _, x := range []float64{-96.4, -10, -0.5, 0, 3, 10, 123.4} {
		if r := positiveMod(x, 10); r < 0 || r >= 10 {
			t.Errorf("positiveMod(%v, 10) = %v", x, r)
		}
	}
}
