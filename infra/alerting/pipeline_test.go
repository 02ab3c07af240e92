package alerting_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/alerting"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type pgStore struct {
	*eventstore.Store
}

func (pgStore) Wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Millisecond):
	}
}

type clock struct {
	mu    sync.Mutex
	now   time.Time
	ticks chan time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Ticker(time.Duration) (<-chan time.Time, func()) { return c.ticks, func() {} }

func (c *clock) tick(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
	c.ticks <- t
}

// TestPipeline_AlertsReachTheReadAPIAndSurviveARestart runs the whole path
// on PostgreSQL: an operator's rule, measurements, the forwarder and the
// evaluator, the projector, and the read API; then a restart that must not
// raise the same alert again.
func TestPipeline_AlertsReachTheReadAPIAndSurviveARestart(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewDatabase(t)
	es := eventstore.New(pool, eventstore.Config{Unbatched: true})
	store := pgStore{es}
	rms, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	clk := &clock{now: t0, ticks: make(chan time.Time)}

	app := commands.NewApplication(es, time.Now, domain.TelemetryPolicy{})
	admin := commands.Caller{Admin: true}
	if _, err := app.RegisterStation.Handle(ctx, &commands.RegisterStation{Caller: admin, ID: "s1",
		Profile: domain.StationProfile{Name: "s1", Location: domain.Location{Lat: 1, Lon: 2}}, TokenHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.SetAlertRule.Handle(ctx, &commands.SetAlertRule{Caller: admin, DeviceID: "s1", Rule: "pm25-high", Type: "pm25",
		Above: 35, For: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	record := func(at time.Time, v float64) {
		t.Helper()
		if _, err := app.RecordMeasurements.Handle(ctx, &commands.RecordMeasurements{Caller: admin, StationID: "s1",
			Measurements: []domain.Measurement{{ID: uuid.NewString(), Type: "pm25", Value: v, MeasuredAt: at}}}); err != nil {
			t.Fatal(err)
		}
	}
	alertTypes := func() []string {
		recs, err := es.ReadStream(ctx, domain.AlertStream("s1"))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			if r.Type != domain.TypeAlertRuleSet {
				out = append(out, r.Type)
			}
		}
		return out
	}
	waitFor := func(n int) {
		t.Helper()
		// Events become readable when every older transaction of the
		// server has ended: allow for other databases' long ones.
		deadline := time.Now().Add(90 * time.Second)
		for len(alertTypes()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("alerts = %v, want %d", alertTypes(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	start := func() func() {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- alerting.Run(runCtx, store, rms, clk, quiet, alerting.Config{OfflineAfter: 10 * time.Minute})
		}()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}

	stop := start()
	for i := 0; i <= 10; i++ {
		record(t0.Add(time.Duration(i)*time.Minute), 50)
	}
	waitFor(1)
	clk.tick(t0.Add(25 * time.Minute))
	waitFor(2)
	stop()

	// The read models follow the alert streams.
	project := func() {
		t.Helper()
		head, err := es.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := projections.NewProjector(es, store, rms, quiet, projections.Config{})
		if _, err := p.CatchUp(ctx, head); err != nil {
			t.Fatal(err)
		}
	}
	project()
	queries, err := readmodel.NewQueries(pool)
	if err != nil {
		t.Fatal(err)
	}
	const readAdmin = "pipeline-admin" // the read API takes the admin token as a key
	h := readapi.NewHandler(queries, readapi.Config{RequestTimeout: 10 * time.Second, Auth: readapi.AuthConfig{AdminToken: readAdmin}},
		time.Now, httpx.NewRegistry(), quiet)
	get := func(path string, into any) {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+readAdmin)
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatal(err)
		}
	}
	var alerts struct {
		Alerts []struct {
			Rule     string    `json:"rule"`
			RaisedAt time.Time `json:"raised_at"`
			Active   bool      `json:"active"`
			Value    float64   `json:"value"`
		} `json:"alerts"`
	}
	get("/v1/alerts?active=true", &alerts)
	if len(alerts.Alerts) != 1 || !alerts.Alerts[0].RaisedAt.Equal(t0) || alerts.Alerts[0].Value != 50 {
		t.Fatalf("active alerts = %+v", alerts)
	}
	var status struct {
		Online bool `json:"online"`
	}
	get("/v1/devices/s1/status", &status)
	if status.Online {
		t.Fatal("s1 should be silent")
	}

	// A restart rebuilds from the log and the forwarder's checkpoint: the
	// raised alert and the silence are not reported again; new data clears
	// and resumes.
	stop = start()
	record(t0.Add(30*time.Minute), 10)
	waitFor(4)
	stop()
	want := []string{domain.TypeAlertRaised, domain.TypeDeviceWentSilent, domain.TypeDeviceResumed, domain.TypeAlertCleared}
	got := alertTypes()
	if len(got) != len(want) {
		t.Fatalf("alerts = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("alerts = %v, want %v", got, want)
		}
	}
	project()
	get("/v1/alerts?active=true", &alerts)
	if len(alerts.Alerts) != 0 {
		t.Fatalf("active alerts after the clear = %+v", alerts)
	}
	get("/v1/stations/s1/alerts", &alerts)
	if len(alerts.Alerts) != 1 || alerts.Alerts[0].Active {
		t.Fatalf("station alerts = %+v", alerts)
	}
	get("/v1/devices/s1/status", &status)
	if !status.Online {
		t.Fatal("s1 should be online again")
	}
}
