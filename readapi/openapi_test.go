package readapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/httpx/openapitest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

var specNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// TestOpenAPI_DocumentMatchesRoutesAndRealAnswers checks the read API's
// OpenAPI document three ways: it is a valid OpenAPI 3 document; it names
// exactly the routes the router serves; and real answers over real read-model
// rows (one request or more per operation, errors included) match the
// documented statuses and schemas.
func TestOpenAPI_DocumentMatchesRoutesAndRealAnswers(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	seedReadModels(t, pool)
	keys := seedKeys(t, pool)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := eventstore.New(pool, eventstore.Config{})
	t.Cleanup(log.Close)
	h := readapi.NewHandler(mustQueries(t, pool), readapi.Config{RequestTimeout: 10 * time.Second, Auth: readapi.AuthConfig{AdminToken: testAdminToken}, Feed: log}, func() time.Time { return specNow },
		httpx.NewRegistry(), logger)
	var serving atomic.Pointer[http.Handler] // h, or a live-enabled API for a while
	serving.Store(&h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*serving.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	c := openapitest.New(t, srv.URL)
	c.CheckRoutes(h)

	// Who may read: the documented refusals, then every read with a key.
	c.Get("/v1/stations", 401)
	c.Do(http.MethodGet, "/v1/stations/st-1", keys.revoked, "", 401)
	c.Do(http.MethodGet, "/v1/stations", keys.scoped, "", 403)
	c.Do(http.MethodGet, "/v1/stations/st-1/latest", keys.otherDevices, "", 403)
	c.Do(http.MethodGet, "/v1/stations/st-1/latest", keys.scoped, "", 200)
	c.UseToken(keys.fleet)

	// Stations.
	c.Get("/v1/stations", 200)
	page := c.Get("/v1/stations?limit=1", 200)
	if page["next"] != "st-1" {
		t.Errorf("a full page should name the next cursor: %v", page)
	}
	c.Get("/v1/stations?limit=1&after=st-1", 200)
	c.Get("/v1/stations?limit=0", 400)
	st := c.Get("/v1/stations/st-1", 200)
	if st["timezone"] != "Europe/Warsaw" || st["location"] == nil {
		t.Errorf("station st-1 = %v", st)
	}
	c.Get("/v1/stations/st-2", 200) // no location
	c.Get("/v1/stations/nope", 404)
	c.Get("/v1/stations/veh-1", 404) // a vehicle is not a station
	pts := c.Get("/v1/stations/st-1/measurements?type=pm25", 200)
	if n := len(pts["points"].([]any)); n != 24 {
		t.Errorf("last 24 hours of hourly points: got %d points", n)
	}
	c.Get("/v1/stations/st-1/measurements?type=pm25&from=2026-05-28T00:00:00Z&to=2026-05-29T00:00:00Z", 200)
	if tr := c.Get("/v1/stations/st-1/measurements?type=pm25&limit=2", 200); tr["truncated"] != true {
		t.Errorf("limit=2 of 24 points should be truncated: %v", tr)
	}
	c.Get("/v1/stations/st-1/measurements?type=unknown", 200) // empty
	c.Get("/v1/stations/st-1/measurements", 400)              // type missing
	c.Get("/v1/stations/st-1/measurements?type=PM25", 400)
	c.Get("/v1/stations/st-1/measurements?type=pm25&from=yesterday", 400)
	c.Get("/v1/stations/nope/measurements?type=pm25", 404)
	days := c.Get("/v1/stations/st-1/measurements/daily?type=pm25", 200)
	if n := len(days["days"].([]any)); n != 30 {
		t.Errorf("daily rows: got %d, want 30", n)
	}
	c.Get("/v1/stations/st-1/measurements/daily?type=pm25&from=2026-05-01&to=2026-05-31", 200)
	c.Get("/v1/stations/st-1/measurements/daily?type=pm25&from=2026-13-01", 400)
	c.Get("/v1/stations/nope/measurements/daily?type=pm25", 404)
	c.Get("/v1/stations/st-1/measurements/daily?type=pm25&as_of=2026-05-30T00:00:00Z", 200)
	c.Get("/v1/stations/st-1/measurements/daily?type=pm25&as_of=never", 400)
	c.Get("/v1/stations/st-1/latest", 200)
	c.Get("/v1/stations/st-2/latest", 200) // none yet
	c.Get("/v1/stations/nope/latest", 404)
	c.Get("/v1/stations/st-1/live", 503) // this server hears no commits
	c.Get("/v1/stations/nope/live", 404)
	c.Get("/v1/vehicles/veh-1/live", 503)

	// The dashboard query.
	raw := c.Get("/v1/measurements?station=st-1&type=pm25&days=3", 200)
	if raw["resolution"] != "raw" || len(raw["points"].([]any)) != 72 {
		t.Errorf("days=3: resolution %v, %d points", raw["resolution"], len(raw["points"].([]any)))
	}
	c.Get("/v1/measurements?station=st-1&type=temperature", 200)
	daily := c.Get("/v1/measurements?station=st-1&type=pm25&days=365", 200)
	if daily["resolution"] != "daily" || len(daily["days"].([]any)) != 30 {
		t.Errorf("days=365: resolution %v, %d days", daily["resolution"], len(daily["days"].([]any)))
	}
	c.Get("/v1/measurements?station=st-1&type=pm25&days=0", 400)
	c.Get("/v1/measurements?type=pm25", 400)
	c.Get("/v1/measurements?station=nope&type=pm25", 404)

	// Vehicles.
	c.Get("/v1/vehicles", 200)
	c.Get("/v1/vehicles?limit=1", 200)
	v := c.Get("/v1/vehicles/veh-1", 200)
	if latest, _ := v["latest"].([]any); len(latest) != 2 {
		t.Errorf("vehicle latest readings: %v", v["latest"])
	}
	c.Get("/v1/vehicles/veh-2", 200) // no readings: no latest
	c.Get("/v1/vehicles/st-1", 404)
	evs := c.Get("/v1/vehicles/veh-1/events?limit=2", 200)
	next, _ := evs["next"].(string)
	if next == "" {
		t.Fatalf("a full page of events should carry a cursor: %v", evs)
	}
	c.Get("/v1/vehicles/veh-1/events?limit=2&cursor="+next, 200)
	c.Get("/v1/vehicles/veh-1/events?type=door_opened", 200)
	c.Get("/v1/vehicles/veh-1/events?from=2026-05-31T00:00:00Z&to=2026-06-02T00:00:00Z", 200)
	c.Get("/v1/vehicles/veh-1/events?cursor=%25%25", 400)
	c.Get("/v1/vehicles/veh-1/events?limit=5000", 400)
	c.Get("/v1/vehicles/nope/events", 404)
	c.Get("/v1/vehicles/veh-1/events/e-1", 200)
	c.Get("/v1/vehicles/veh-1/events/e-2", 200)
	c.Get("/v1/vehicles/veh-1/events/missing", 404)
	c.Get("/v1/vehicles/veh-1/readings/daily?name=speed_kmh", 200)
	c.Get("/v1/vehicles/veh-1/readings/daily", 400)
	c.Get("/v1/vehicles/nope/readings/daily?name=speed_kmh", 404)

	// Hourly aggregates, audit trails and exports.
	c.Get("/v1/stations/st-1/measurements/hourly?type=pm25", 200)
	c.Get("/v1/stations/st-1/measurements/buckets/q15?type=pm25", 200)
	c.Get("/v1/stations/st-1/measurements/buckets/nope?type=pm25", 404)
	c.Get("/v1/stations/st-1/measurements/hourly?type=pm25&from=2026-05-01T00:00:00Z&to=2026-05-01T00:00:00Z", 400)
	c.Get("/v1/stations/nope/measurements/hourly?type=pm25", 404)
	hist := c.Get("/v1/stations/st-1/history?limit=1", 200)
	if next, _ := hist["next"].(string); next == "" {
		t.Error("a full history page has no next cursor")
	} else {
		c.Get("/v1/stations/st-1/history?limit=1&cursor="+next, 200)
	}
	c.Get("/v1/stations/st-1/history?cursor=x", 400)
	c.Get("/v1/vehicles/veh-1/history", 200)
	c.Get("/v1/vehicles/st-1/history", 404)
	c.Get("/v1/stations/st-1/export?type=pm25", 200)
	c.Get("/v1/stations/st-1/export?type=pm25&format=ndjson&resolution=daily", 200)
	c.Get("/v1/stations/st-1/export?type=pm25&resolution=hourly", 200)
	c.Get("/v1/stations/st-1/export?type=pm25&format=xml", 400)

	// Alerts and device status.
	active := c.Get("/v1/alerts?active=true", 200)
	if list := active["alerts"].([]any); len(list) != 1 || list[0].(map[string]any)["rule"] != "pm25-high" {
		t.Errorf("active alerts = %v", active)
	}
	if all := c.Get("/v1/alerts?limit=10", 200); len(all["alerts"].([]any)) != 2 {
		t.Errorf("all alerts = %v", all)
	}
	c.Get("/v1/alerts?active=yes", 400)
	c.Get("/v1/stations/st-1/alerts?active=false", 200)
	c.Get("/v1/stations/nope/alerts", 404)
	if st := c.Get("/v1/devices/st-1/status", 200); st["online"] != false || st["since"] == nil {
		t.Errorf("st-1 is silent: %v", st)
	}
	if st := c.Get("/v1/devices/veh-1/status", 200); st["online"] != true || st["last_measured_at"] == nil {
		t.Errorf("veh-1 sends data: %v", st)
	}
	c.Get("/v1/devices/st-2/status", 200) // never sent data
	c.Get("/v1/devices/nope/status", 404)

	// Operations and pages.
	// The event feed (an empty log here; feed_test.go reads a real one).
	if f := c.Get("/v1/feed", 200); f["next"] != "0-0" {
		t.Errorf("the feed of an empty log: %v", f)
	}
	c.Get("/v1/feed?after=12-3&types=measurements_recorded,alert_raised&limit=5", 200)
	c.Get("/v1/feed?after=12", 400)
	c.Get("/healthz", 200)
	c.Get("/readyz", 200)
	c.Get("/metrics", 200)
	c.Get("/openapi.json", 200)
	c.Get("/docs", 200)
	c.Get("/", 200)
	c.Get("/dashboard/", 200)
	// Live push streams, from an API that hears commits, ended by its shutdown.
	for _, path := range []string{"/v1/stations/st-1/live", "/v1/vehicles/veh-1/live?last_event_id=0/0"} {
		checkLiveStream(t, c, pool, &serving, path)
	}
	serving.Store(&h)

	c.CheckEveryOperationAnswered()

	// Files under the /dashboard/ prefix route, beyond its documented page.
	resp, err := http.Get(srv.URL + "/dashboard/no-such-file.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("missing dashboard file: %d %s, want 404 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// seedReadModels writes read-model rows as projectors would: two stations
// (one without a location), two vehicles (one without readings), five days
// of hourly points, 30 daily rows, latest values and vehicle events.
func seedReadModels(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{
		`INSERT INTO rm_devices (device_id, kind, name, lat, lon, timezone, vin, plate, model, version, decommissioned, registered_at, updated_at) VALUES
			('st-1', 'station', 'Kraków', 50.06, 19.94, 'Europe/Warsaw', '', '', '', 2, false, $1::timestamptz - interval '40 days', $1::timestamptz - interval '1 day'),
			('st-2', 'station', 'Nowhere yet', NULL, NULL, '', '', '', '', 0, false, $1::timestamptz - interval '2 days', $1::timestamptz - interval '2 days'),
			('veh-1', 'vehicle', 'Van 1', NULL, NULL, 'UTC', '1HGCM82633A004352', 'KR 12345', 'e-Transit', 1, false, $1::timestamptz - interval '40 days', $1::timestamptz - interval '40 days'),
			('veh-2', 'vehicle', 'Van 2', NULL, NULL, '', '', '', '', 3, true, $1::timestamptz - interval '3 days', $1::timestamptz - interval '1 day')`,
		`INSERT INTO rm_daily (device_id, name, day, count, sum, min, max)
			SELECT 'st-1', 'pm25', $1::date - d, 24, 24 * 12.5, 8, 17.5 FROM generate_series(0, 29) AS d
			UNION ALL
			SELECT 'veh-1', 'speed_kmh', $1::date - d, 10, 450, 0, 90 FROM generate_series(0, 4) AS d`,
		`INSERT INTO rm_latest (device_id, name, value, measured_at) VALUES
			('st-1', 'pm25', 13.25, $1::timestamptz - interval '1 hour'),
			('st-1', 'temperature', 11.25, $1::timestamptz - interval '1 hour'),
			('veh-1', 'speed_kmh', 42.5, $1::timestamptz - interval '10 minutes'),
			('veh-1', 'battery_pct', 81, $1::timestamptz - interval '10 minutes')`,
		// Hourly aggregates are partitioned by hour; the projector makes
		// partitions as it needs them, a seed makes its own.
		`CREATE TABLE rm_hourly_seed PARTITION OF rm_hourly FOR VALUES FROM ('` + specNow.Add(-7*24*time.Hour).Format(time.RFC3339) +
			`') TO ('` + specNow.Add(7*24*time.Hour).Format(time.RFC3339) + `')`,
		`INSERT INTO rm_hourly (device_id, name, hour, count, sum, min, max)
			SELECT 'st-1', 'pm25', date_trunc('hour', $1::timestamptz) - make_interval(hours => h), 1, 12.5, 12.5, 12.5 FROM generate_series(1, 30) AS h`,
		`INSERT INTO projection_buckets (name, width_seconds, zone, created_at) VALUES ('q15', 900, '', $1::timestamptz)`,
		`INSERT INTO rm_buckets (projection, device_id, name, start, count, sum, min, max)
			SELECT 'q15', 'st-1', 'pm25', date_trunc('hour', $1::timestamptz) - make_interval(mins => 15 * q), 1, 12.5, 12.5, 12.5 FROM generate_series(1, 20) AS q`,
		`INSERT INTO rm_device_history (device_id, commit_pos, prepare_pos, event_type, at, version, details) VALUES
			('st-1', 10, 1, 'StationRegistered', $1::timestamptz - interval '40 days', 0, '{"name": "Krakow", "location": {"lat": 50.06, "lon": 19.94}, "timezone": "Europe/Warsaw"}'),
			('st-1', 11, 5, 'MeasurementCorrected', $1::timestamptz - interval '2 days', NULL, '{"id": "pm25-3", "value": 12, "reason": "recalibrated", "actor": "ops"}'),
			('veh-1', 12, 7, 'VehicleRegistered', $1::timestamptz - interval '40 days', 0, '{"name": "Van 1"}')`,
		`INSERT INTO rm_alerts (device_id, rule, type, raised_at, cleared_at, value, threshold) VALUES
			('st-1', 'pm25-high', 'pm25', $1::timestamptz - interval '2 hours', NULL, 52.5, 35),
			('st-1', 'pm25-high', 'pm25', $1::timestamptz - interval '2 days', $1::timestamptz - interval '47 hours', 40, 35)`,
		`INSERT INTO rm_device_status (device_id, online, last_measured_at, since) VALUES
			('st-1', false, $1::timestamptz - interval '1 hour', $1::timestamptz - interval '30 minutes')`,
	}
	for _, s := range stmts {
		var args []any
		if strings.Contains(s, "$1") {
			args = []any{specNow}
		}
		if _, err := pool.Exec(ctx, s, args...); err != nil {
			t.Fatalf("seed read models: %v\n%s", err, s)
		}
	}
	// Raw points and vehicle events, as the projector stores them.
	var ms []projections.MeasurementRow
	for h := 1; h <= 120; h++ {
		for _, typ := range []string{"pm25", "temperature"} {
			ms = append(ms, projections.MeasurementRow{DeviceID: "st-1", Type: typ, MeasuredAt: specNow.Add(-time.Duration(h) * time.Hour),
				Value: float64(10+h%7) + 0.25, MeasurementID: fmt.Sprintf("%s-%d", typ, h)})
		}
	}
	vs := []projections.VehicleEventRow{
		{DeviceID: "veh-1", EID: "e-1", Type: "telemetry", OccurredAt: specNow.Add(-10 * time.Minute),
			Readings: map[string]float64{"speed_kmh": 42.5, "battery_pct": 81}, Location: &domain.Location{Lat: 52.2, Lon: 21.0}},
		{DeviceID: "veh-1", EID: "e-2", Type: "door_opened", OccurredAt: specNow.Add(-20 * time.Minute), Data: []byte(`{"door": "rear"}`)},
		{DeviceID: "veh-1", EID: "e-3", Type: "telemetry", OccurredAt: specNow.Add(-30 * time.Minute), Readings: map[string]float64{"speed_kmh": 0}},
	}
	seedRaw(t, pool, ms, vs)
}

// seedRaw stores raw rows as the projector does, kept whatever their age.
func seedRaw(t testing.TB, pool *pgxpool.Pool, ms []projections.MeasurementRow, vs []projections.VehicleEventRow) {
	t.Helper()
	w, err := readmodel.NewWriter(pool, readmodel.WriterConfig{Retention: readmodel.Retention{Raw: readmodel.KeepForever, Hourly: readmodel.KeepForever}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddRaw(context.Background(), ms, vs); err != nil {
		t.Fatalf("seed raw read models: %v", err)
	}
}

// checkLiveStream serves a live-enabled read API while c checks a stream
// of path, then stops that API, which ends the stream so c can check it.
func checkLiveStream(t *testing.T, c *openapitest.Checker, pool *pgxpool.Pool, serving *atomic.Pointer[http.Handler], path string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := httpx.NewRegistry()
	api := readapi.New(mustQueries(t, pool), readapi.Config{RequestTimeout: 10 * time.Second,
		Commits: readmodel.NewCommitListener(pool.Config().ConnString(), logger)}, func() time.Time { return specNow }, reg, logger)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = api.Run(ctx)
	}()
	defer func() {
		stop()
		<-ran
	}()
	for deadline := time.Now().Add(10 * time.Second); !api.Listening(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the live-enabled API never heard of the commit channel")
		}
	}
	var live http.Handler = api
	serving.Store(&live)
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		c.Get(path, 200)
	}()
	for deadline := time.Now().Add(10 * time.Second); liveSubscribers(t, reg) < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never subscribed", path)
		}
	}
	stop()
	<-checked
}

func liveSubscribers(t *testing.T, reg interface {
	Gather() ([]*dto.MetricFamily, error)
}) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "fleetpulse_live_subscribers" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}
