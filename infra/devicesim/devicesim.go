// Package devicesim plays simulated air-quality stations and vehicles
// against the command API over HTTP, exactly as real devices would: it
// registers them with the operator token, backfills some history, then
// posts live data, so a dashboard has something to show.
package devicesim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// Config says what to simulate and where to send it.
type Config struct {
	CommandURL   string // e.g. http://127.0.0.1:8080
	AdminToken   string
	Stations     int
	Vehicles     int
	Interval     time.Duration // live sample interval
	Backfill     time.Duration // history to post at start (0: none)
	BackfillStep time.Duration
}

// Simulator is a fleet of simulated devices.
type Simulator struct {
	cfg    Config
	client *http.Client
	logger *slog.Logger
	tokens map[string]string
	rng    *rand.Rand
}

// New returns a simulator; call Run.
func New(cfg Config, logger *slog.Logger) *Simulator {
	if cfg.BackfillStep <= 0 {
		cfg.BackfillStep = 10 * time.Minute
	}
	return &Simulator{cfg: cfg, client: &http.Client{Timeout: 30 * time.Second}, logger: logger,
		tokens: map[string]string{}, rng: rand.New(rand.NewPCG(1, 2))}
}

var zones = []string{"Europe/Warsaw", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"}

var measurementTypes = []string{"pm25", "pm10", "no2", "temperature", "humidity"}

// StationID and VehicleID name the simulated devices.
func StationID(i int) string { return fmt.Sprintf("sim-station-%02d", i+1) }
func VehicleID(i int) string { return fmt.Sprintf("sim-vehicle-%02d", i+1) }

// Run registers the fleet, backfills, then posts live data until ctx ends.
func (s *Simulator) Run(ctx context.Context) error {
	if err := s.register(ctx); err != nil {
		return err
	}
	if s.cfg.Backfill > 0 {
		if err := s.backfill(ctx, time.Now().Add(-s.cfg.Backfill), time.Now()); err != nil {
			return err
		}
	}
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		now := time.Now()
		if err := s.postAll(ctx, now.Add(-s.cfg.Interval), now, s.cfg.Interval); err != nil && ctx.Err() == nil {
			s.logger.Warn("simulated devices could not post", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// register creates each device, or gives an existing one a fresh token.
func (s *Simulator) register(ctx context.Context) error {
	for i := 0; i < s.cfg.Stations; i++ {
		id := StationID(i)
		body := map[string]any{"id": id, "name": fmt.Sprintf("Simulated station %d", i+1),
			"location": map[string]float64{"lat": 52.2 + float64(i)*0.05, "lon": 21.0 + float64(i)*0.05},
			"timezone": zones[i%len(zones)]}
		if err := s.registerOne(ctx, "/v1/stations", "/v1/stations/"+id+"/token", id, body); err != nil {
			return err
		}
	}
	for i := 0; i < s.cfg.Vehicles; i++ {
		id := VehicleID(i)
		body := map[string]any{"vid": id, "name": fmt.Sprintf("Simulated van %d", i+1),
			"plate": fmt.Sprintf("WX %05d", 1000+i), "model": "e-Transit", "timezone": zones[i%len(zones)]}
		if err := s.registerOne(ctx, "/v1/vehicles", "/v1/vehicles/"+id+"/token", id, body); err != nil {
			return err
		}
	}
	s.logger.Info("simulated devices registered", "stations", s.cfg.Stations, "vehicles", s.cfg.Vehicles)
	return nil
}

func (s *Simulator) registerOne(ctx context.Context, path, tokenPath, id string, body any) error {
	var out struct {
		Token string `json:"token"`
	}
	status, err := s.post(ctx, path, s.cfg.AdminToken, body, &out)
	if err != nil {
		return err
	}
	if status == http.StatusConflict {
		status, err = s.post(ctx, tokenPath, s.cfg.AdminToken, nil, &out)
		if err != nil {
			return err
		}
	}
	if status/100 != 2 || out.Token == "" {
		return fmt.Errorf("register %s: status %d", id, status)
	}
	s.tokens[id] = out.Token
	return nil
}

func (s *Simulator) backfill(ctx context.Context, from, to time.Time) error {
	start := time.Now()
	if err := s.postAll(ctx, from, to, s.cfg.BackfillStep); err != nil {
		return err
	}
	s.logger.Info("simulated history posted", "from", from.Format(time.RFC3339), "step", s.cfg.BackfillStep, "took", time.Since(start))
	return nil
}

// postAll posts every device's samples in (from, to], step apart, in batches.
func (s *Simulator) postAll(ctx context.Context, from, to time.Time, step time.Duration) error {
	first := from.Truncate(step).Add(step)
	for i := 0; i < s.cfg.Stations; i++ {
		id := StationID(i)
		var batch []map[string]any
		for t := first; !t.After(to); t = t.Add(step) {
			sample := stationSample(i, t, s.rng.NormFloat64)
			for _, typ := range measurementTypes {
				batch = append(batch, map[string]any{
					"id": fmt.Sprintf("%s-%d", typ, t.UnixMilli()), "type": typ,
					"value": sample[typ], "measured_at": t.UTC().Format(time.RFC3339Nano)})
			}
			if len(batch) >= 1000 {
				if err := s.send(ctx, "/v1/stations/"+id+"/measurements", id, map[string]any{"measurements": batch}); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			if err := s.send(ctx, "/v1/stations/"+id+"/measurements", id, map[string]any{"measurements": batch}); err != nil {
				return err
			}
		}
	}
	for i := 0; i < s.cfg.Vehicles; i++ {
		id := VehicleID(i)
		var batch []map[string]any
		for t := first; !t.After(to); t = t.Add(step) {
			readings, loc := vehicleSample(i, t, s.rng.NormFloat64)
			batch = append(batch, map[string]any{
				"eid": fmt.Sprintf("tel-%d", t.UnixMilli()), "type": "telemetry",
				"occurred_at": t.UTC().Format(time.RFC3339Nano),
				"readings":    readings,
				"location":    loc,
			})
			if s.rng.IntN(20) == 0 {
				batch = append(batch, map[string]any{"eid": fmt.Sprintf("door-%d", t.UnixMilli()), "type": "door_opened",
					"occurred_at": t.UTC().Format(time.RFC3339Nano), "data": map[string]string{"door": "rear"}})
			}
			if len(batch) >= 1000 {
				if err := s.send(ctx, "/v1/vehicles/"+id+"/events", id, map[string]any{"events": batch}); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			if err := s.send(ctx, "/v1/vehicles/"+id+"/events", id, map[string]any{"events": batch}); err != nil {
				return err
			}
		}
	}
	return nil
}

// stationSample is what station i measures at t: a daily cycle, a
// per-station offset and noise (a standard normal draw per call), each
// quantity kept in its physical range: concentrations never below zero,
// PM10 never below the PM2.5 it contains, humidity a percentage.
func stationSample(i int, t time.Time, noise func() float64) map[string]float64 {
	hour := float64(t.Unix()%86400) / 3600
	cycle := math.Sin((hour - 6) / 24 * 2 * math.Pi)
	pm25 := math.Max(0, 18+8*cycle+float64(i)*2+noise()*3)
	return map[string]float64{
		"pm25":        pm25,
		"pm10":        pm25 + math.Max(0, 12+4*cycle+float64(i)+noise()*3), // the coarse part on top
		"no2":         math.Max(0, 25+10*cycle+noise()*3),
		"temperature": clamp(12+6*cycle+noise()*0.5, -50, 50),
		"humidity":    clamp(60-15*cycle+noise()*2, 0, 100),
	}
}

// vehicleSample is what van i reports at t. The van works a 10-hour cycle:
// 8 hours on the road, its battery draining from 100 % to 20 %, then
// 2 hours parked at a charger, charging back (speed 0); vans are an hour
// apart in their cycles.
func vehicleSample(i int, t time.Time, noise func() float64) (readings, location map[string]float64) {
	hours := float64(t.Unix())/3600 + float64(i)
	cycle := positiveMod(hours, 10) / 10
	battery, speed := 0.0, 0.0
	if cycle < 0.8 {
		battery = 100 - 80*cycle/0.8
		speed = clamp(45+35*math.Sin(hours*2)+noise()*5, 0, 130)
	} else {
		battery = 20 + 80*(cycle-0.8)/0.2
	}
	readings = map[string]float64{
		"speed_kmh":    speed,
		"battery_pct":  clamp(battery+noise()*0.5, 0, 100),
		"cabin_temp_c": clamp(20+3*math.Sin(hours/4)+noise()*0.3, -40, 60),
	}
	location = map[string]float64{"lat": 52.2 + 0.05*math.Sin(hours/3), "lon": 21.0 + 0.05*math.Cos(hours/3)}
	return readings, location
}

func clamp(v, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, v)) }

// positiveMod is x mod m in [0, m), also for a negative x.
func positiveMod(x, m float64) float64 {
	r := math.Mod(x, m)
	if r < 0 {
		r += m
	}
	return r
}

func (s *Simulator) send(ctx context.Context, path, id string, body any) error {
	status, err := s.post(ctx, path, s.tokens[id], body, nil)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("post %s: status %d", path, status)
	}
	return nil
}

func (s *Simulator) post(ctx context.Context, path, token string, body, out any) (int, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.CommandURL+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, nil
}
