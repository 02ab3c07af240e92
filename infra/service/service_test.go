package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

// system runs the three processes' Run functions on ephemeral ports, as
// `fleetpulse dev` does, against a throwaway database.
type system struct {
	command, read string
}

func startSystem(t *testing.T) system { t.Helper(); return startSystemWith(t, nil) }

// startSystemWith starts the system with extra settings.
func startSystemWith(t *testing.T, extra map[string]string) system {
	t.Helper()
	_, url := pgtest.NewDatabase(t)
	cfg, err := config.FromEnv(func(name string) string {
		if v, ok := extra[name]; ok {
			return v
		}
		return map[string]string{
			"FLEETPULSE_PG_URL":         url,
			"FLEETPULSE_ADMIN_TOKEN":    "admin",
			"FLEETPULSE_COMMAND_ADDR":   "127.0.0.1:0",
			"FLEETPULSE_READ_ADDR":      "127.0.0.1:0",
			"FLEETPULSE_PROJECTOR_ADDR": "127.0.0.1:0",
			"FLEETPULSE_POLL_INTERVAL":  "50ms",
		}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 3)
	ready := func(name, addr string) { addrs <- [2]string{name, addr} }
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	run := service.WithPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
		for _, fn := range []func(context.Context, config.Config, service.Env, *slog.Logger, service.Ready) error{
			service.RunCommandAPI, service.RunProjector, service.RunReadAPI,
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(ctx, cfg, env, logger, ready); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, logger) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system stopped with %v", err)
		}
		close(errs)
		for err := range errs {
			t.Errorf("service stopped with %v", err)
		}
	})
	var s system
	for i := 0; i < 3; i++ {
		select {
		case a := <-addrs:
			switch a[0] {
			case "command":
				s.command = "http://" + a[1]
			case "read":
				s.read = "http://" + a[1]
			}
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(20 * time.Second):
			t.Fatal("services did not start")
		}
	}
	return s
}

func call(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

// eventually polls the read API until check passes, as a dashboard would
// (with the admin token, which the read API accepts as a key).
func eventually(t *testing.T, url string, out any, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status := call(t, "GET", url, "admin", "", out)
		if status == 200 && check() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: last status %d, %+v", url, status, out)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestSystem_MeasurementsPostedAppearInRawDailyLatestAndDashboard(t *testing.T) {
	s := startSystem(t)
	var reg struct{ ID, Token string }
	if st := call(t, "POST", s.command+"/v1/stations", "admin",
		`{"id": "krk-1", "name": "Kraków", "location": {"lat": 50.06, "lon": 19.94}, "timezone": "Europe/Warsaw"}`, &reg); st != 201 {
		t.Fatalf("register: %d", st)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var items []string
	for i := 0; i < 10; i++ {
		items = append(items, fmt.Sprintf(`{"id": "m%d", "type": "pm25", "value": %d, "measured_at": %q}`,
			i, i+1, now.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339)))
	}
	var res struct{ Accepted, Duplicates int }
	if st := call(t, "POST", s.command+"/v1/stations/krk-1/measurements", reg.Token,
		`{"measurements": [`+strings.Join(items, ",")+`]}`, &res); st != 201 || res.Accepted != 10 {
		t.Fatalf("post: %d %+v", st, res)
	}

	var points struct {
		Points []struct {
			MeasuredAt time.Time `json:"measured_at"`
			Value      float64
		}
	}
	eventually(t, s.read+"/v1/stations/krk-1/measurements?type=pm25", &points, func() bool { return len(points.Points) == 10 })
	for i := 1; i < len(points.Points); i++ {
		if points.Points[i].MeasuredAt.Before(points.Points[i-1].MeasuredAt) {
			t.Fatal("raw points are not in time order")
		}
	}

	var daily struct {
		Days []struct {
			Day                string
			Count              int
			Min, Max, Avg, Sum float64
		}
	}
	eventually(t, s.read+"/v1/stations/krk-1/measurements/daily?type=pm25", &daily, func() bool {
		total := 0
		for _, d := range daily.Days {
			total += d.Count
		}
		return total == 10
	})
	var latest struct {
		Latest []struct {
			Type  string
			Value float64
		}
	}
	call(t, "GET", s.read+"/v1/stations/krk-1/latest", "admin", "", &latest)
	if len(latest.Latest) != 1 || latest.Latest[0].Value != 1 {
		t.Fatalf("latest = %+v, want pm25 = 1 (the newest measured)", latest)
	}
	var dash struct {
		Resolution string
		Points     []any
		Days       []any
	}
	call(t, "GET", s.read+"/v1/measurements?station=krk-1&type=pm25&days=3", "admin", "", &dash)
	if dash.Resolution != "raw" || len(dash.Points) != 10 {
		t.Fatalf("3-day dashboard = %+v", dash)
	}
	call(t, "GET", s.read+"/v1/measurements?station=krk-1&type=pm25&days=365", "admin", "", &dash)
	if dash.Resolution != "daily" || len(dash.Days) == 0 {
		t.Fatalf("365-day dashboard = %+v", dash)
	}
	var errBody struct {
		Error struct{ Code, Message string }
	}
	if st := call(t, "GET", s.read+"/v1/stations/nope/latest", "admin", "", &errBody); st != 404 || errBody.Error.Code == "" {
		t.Fatalf("unknown station: %d %+v", st, errBody)
	}
	if st := call(t, "GET", s.read+"/v1/stations/krk-1/measurements?type=PM25", "admin", "", &errBody); st != 400 {
		t.Fatalf("bad type: %d", st)
	}
}

func TestSystem_VehicleEventsNewestFirstWithPagination(t *testing.T) {
	s := startSystem(t)
	var reg struct{ VID, Token string }
	if st := call(t, "POST", s.command+"/v1/vehicles", "admin", `{"vid": "van-7", "name": "Van", "timezone": "Asia/Tokyo"}`, &reg); st != 201 {
		t.Fatalf("register: %d", st)
	}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var items []string
	for i := 0; i < 25; i++ {
		items = append(items, fmt.Sprintf(`{"eid": "e%02d", "type": "telemetry", "occurred_at": %q, "readings": {"speed_kmh": %d}}`,
			i, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i))
	}
	if st := call(t, "POST", s.command+"/v1/vehicles/van-7/events", reg.Token, `{"events": [`+strings.Join(items, ",")+`]}`, nil); st != 201 {
		t.Fatalf("post: %d", st)
	}
	type page struct {
		Events []struct{ EID string }
		Next   string
	}
	var p page
	eventually(t, s.read+"/v1/vehicles/van-7/events?limit=10", &p, func() bool { return len(p.Events) == 10 })
	var seen []string
	for {
		for _, e := range p.Events {
			seen = append(seen, e.EID)
		}
		if p.Next == "" {
			break
		}
		url := s.read + "/v1/vehicles/van-7/events?limit=10&cursor=" + p.Next
		p = page{}
		call(t, "GET", url, "admin", "", &p)
	}
	if len(seen) != 25 || seen[0] != "e24" || seen[24] != "e00" {
		t.Fatalf("paged eids = %v", seen)
	}
	var one struct{ EID, Type string }
	if st := call(t, "GET", s.read+"/v1/vehicles/van-7/events/e05", "admin", "", &one); st != 200 || one.EID != "e05" {
		t.Fatalf("one event: %d %+v", st, one)
	}
	if st := call(t, "GET", s.read+"/v1/vehicles/van-7/events/none", "admin", "", nil); st != 404 {
		t.Fatalf("missing event: %d", st)
	}
	var daily struct {
		Days []struct {
			Count int
			Max   float64
		}
	}
	call(t, "GET", s.read+"/v1/vehicles/van-7/readings/daily?name=speed_kmh", "admin", "", &daily)
	total := 0
	for _, d := range daily.Days {
		total += d.Count
	}
	if total != 25 {
		t.Fatalf("daily speed readings = %+v", daily)
	}
}

func TestSystem_CorrectionsAndRetractionsWithAsOfAndHistory(t *testing.T) {
	s := startSystem(t)
	var reg struct{ ID, Token string }
	if st := call(t, "POST", s.command+"/v1/stations", "admin",
		`{"id": "gdn-1", "name": "Gdańsk", "location": {"lat": 54.35, "lon": 18.65}, "timezone": "Europe/Warsaw"}`, &reg); st != 201 {
		t.Fatalf("register: %d", st)
	}
	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(24 * time.Hour).Add(11 * time.Hour) // 12:00 or 13:00 in Warsaw
	body := fmt.Sprintf(`{"measurements": [
		{"id": "a", "type": "pm25", "value": 10, "measured_at": %q},
		{"id": "b", "type": "pm25", "value": 20, "measured_at": %q},
		{"id": "c", "type": "pm25", "value": 90, "measured_at": %q}]}`,
		day.Format(time.RFC3339), day.Add(time.Minute).Format(time.RFC3339), day.Add(2*time.Minute).Format(time.RFC3339))
	if st := call(t, "POST", s.command+"/v1/stations/gdn-1/measurements", reg.Token, body, nil); st != 201 {
		t.Fatalf("post: %d", st)
	}
	time.Sleep(20 * time.Millisecond)
	beforeFixes := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	if st := call(t, "POST", s.command+"/v1/stations/gdn-1/measurements/a/correction", "admin",
		`{"value": 15, "reason": "recalibration", "actor": "ops@example.com"}`, nil); st != 201 {
		t.Fatalf("correction: %d", st)
	}
	if st := call(t, "POST", s.command+"/v1/stations/gdn-1/measurements/c/retraction", "admin",
		`{"reason": "sensor fault", "actor": "ops@example.com"}`, nil); st != 201 {
		t.Fatalf("retraction: %d", st)
	}
	if st := call(t, "POST", s.command+"/v1/stations/gdn-1/measurements/zzz/retraction", "admin",
		`{"reason": "x", "actor": "y"}`, nil); st != 404 {
		t.Fatalf("retraction of an unknown measurement: %d", st)
	}
	type days struct {
		Days []struct {
			Count         int
			Min, Max, Sum float64
		}
	}
	var now days
	daily := s.read + "/v1/stations/gdn-1/measurements/daily?type=pm25"
	eventually(t, daily, &now, func() bool { return len(now.Days) == 1 && now.Days[0].Count == 2 })
	if d := now.Days[0]; d.Min != 15 || d.Max != 20 || d.Sum != 35 {
		t.Fatalf("corrected day = %+v, want count 2, min 15, max 20, sum 35", d)
	}
	var then days
	call(t, "GET", daily+"&as_of="+beforeFixes.Format(time.RFC3339Nano), "admin", "", &then)
	if len(then.Days) != 1 || then.Days[0].Count != 3 || then.Days[0].Min != 10 || then.Days[0].Max != 90 || then.Days[0].Sum != 120 {
		t.Fatalf("day as of before the fixes = %+v, want the original 10, 20, 90", then)
	}
	var early days
	call(t, "GET", daily+"&as_of="+day.Add(-time.Hour).Format(time.RFC3339), "admin", "", &early)
	if len(early.Days) != 0 {
		t.Fatalf("day as of before anything was recorded = %+v", early)
	}
	var hist struct {
		History []struct {
			Type    string
			Details map[string]any
		}
	}
	eventually(t, s.read+"/v1/stations/gdn-1/history", &hist, func() bool { return len(hist.History) == 3 })
	if hist.History[0].Type != "StationRegistered" || hist.History[1].Type != "MeasurementCorrected" || hist.History[2].Details["reason"] != "sensor fault" {
		t.Fatalf("history = %+v", hist)
	}
	if _, leaked := hist.History[0].Details["token_hash"]; leaked {
		t.Fatal("the audit trail shows the token hash")
	}
}
