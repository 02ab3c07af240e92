package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// newClient returns an HTTP client for one test's traffic to 127.0.0.1.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// answer is what a request got: a status with its header and JSON body, or
// a transport error (refused, reset, timed out).
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
	err    error
	took   time.Duration
}

func (a answer) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

func (a answer) String() string {
	if a.err != nil {
		return "error: " + a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.raw))
}

// number reads a numeric field of the JSON body (-1 if absent).
func (a answer) number(field string) int {
	v, ok := a.body[field].(float64)
	if !ok {
		return -1
	}
	return int(v)
}

// errorCode reads error.code of an api.md error body ("" if none).
func (a answer) errorCode() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func send(client *http.Client, method, url, token string, body any) answer {
	var payload io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		payload = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, payload)
	if err != nil {
		return answer{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header, took: time.Since(start)}
	a.raw, a.err = io.ReadAll(resp.Body)
	a.took = time.Since(start)
	if a.err == nil && len(a.raw) > 0 && bytes.HasPrefix(bytes.TrimSpace(a.raw), []byte("{")) {
		_ = json.Unmarshal(a.raw, &a.body)
	}
	return a
}

// device is a registered station or vehicle and its token.
type device struct {
	kind  string // "stations" or "vehicles"
	id    string
	token string
}

// registerStation registers a station through the command API as the operator.
func registerStation(t *testing.T, client *http.Client, base, id, zone string) device {
	t.Helper()
	a := send(client, http.MethodPost, base+"/v1/stations", adminToken, map[string]any{
		"id": id, "name": "station " + id, "location": map[string]float64{"lat": 50.06, "lon": 19.94}, "timezone": zone,
	})
	if a.status != http.StatusCreated {
		t.Fatalf("register station %s: %v", id, a)
	}
	token, _ := a.body["token"].(string)
	return device{kind: "stations", id: id, token: token}
}

// registerVehicle registers a vehicle through the command API as the operator.
func registerVehicle(t *testing.T, client *http.Client, base, vid, zone string) device {
	t.Helper()
	a := send(client, http.MethodPost, base+"/v1/vehicles", adminToken, map[string]any{
		"vid": vid, "name": "vehicle " + vid, "timezone": zone,
	})
	if a.status != http.StatusCreated {
		t.Fatalf("register vehicle %s: %v", vid, a)
	}
	token, _ := a.body["token"].(string)
	return device{kind: "vehicles", id: vid, token: token}
}

type measurement struct {
	ID         string    `json:"id,omitempty"`
	Type       string    `json:"type"`
	Value      float64   `json:"value"`
	MeasuredAt time.Time `json:"measured_at"`
}

type vehicleEvent struct {
	EID        string             `json:"eid,omitempty"`
	Type       string             `json:"type"`
	OccurredAt time.Time          `json:"occurred_at"`
	Readings   map[string]float64 `json:"readings,omitempty"`
	Location   map[string]float64 `json:"location,omitempty"`
}

// measurements makes n measurements with ids prefix-0..n-1, spread over the
// last ten days (so local days, DST included, vary) and three types.
func measurements(rng *rand.Rand, prefix string, n int) []measurement {
	types := []string{"pm25", "pm10", "no2"}
	now := time.Now().UTC().Truncate(time.Second)
	ms := make([]measurement, n)
	for i := range ms {
		ms[i] = measurement{
			ID:         fmt.Sprintf("%s-%d", prefix, i),
			Type:       types[rng.IntN(len(types))],
			Value:      math.Round(rng.Float64()*2000) / 10,
			MeasuredAt: now.Add(-time.Duration(rng.Int64N(int64(240 * time.Hour)))),
		}
	}
	return ms
}

func vehicleEvents(rng *rand.Rand, prefix string, n int) []vehicleEvent {
	types := []string{"position", "ignition_on", "harsh_braking"}
	now := time.Now().UTC().Truncate(time.Second)
	es := make([]vehicleEvent, n)
	for i := range es {
		es[i] = vehicleEvent{
			EID:        fmt.Sprintf("%s-%d", prefix, i),
			Type:       types[rng.IntN(len(types))],
			OccurredAt: now.Add(-time.Duration(rng.Int64N(int64(240 * time.Hour)))),
			Readings:   map[string]float64{"speed_kmh": float64(rng.IntN(130)), "fuel_pct": float64(rng.IntN(100))},
			Location:   map[string]float64{"lat": 50 + rng.Float64(), "lon": 19 + rng.Float64()},
		}
	}
	return es
}

func postMeasurements(client *http.Client, base string, d device, ms []measurement) answer {
	return send(client, http.MethodPost, base+"/v1/stations/"+d.id+"/measurements", d.token, map[string]any{"measurements": ms})
}

func postVehicleEvents(client *http.Client, base string, d device, es []vehicleEvent) answer {
	return send(client, http.MethodPost, base+"/v1/vehicles/"+d.id+"/events", d.token, map[string]any{"events": es})
}

// retryable is what a device retries with the same ids: no answer at all,
// or an answer that says "not now".
func retryable(a answer) bool {
	return a.err != nil || a.status >= 500 || a.status == http.StatusTooManyRequests
}
