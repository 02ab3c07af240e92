package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/memstore"
	"github.com/fleetpulse/fleetpulse/infra/metrics"
	"github.com/fleetpulse/fleetpulse/infra/metrics/metricstest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func event(t *testing.T, v domain.Event) domain.EventData {
	t.Helper()
	d, err := domain.NewEventData(uuid.NewString(), v)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestInstrumentAppends_CountsEventsItemsDuplicatesConflictsAndKeepsTheItemFinder(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := metrics.InstrumentAppends(memstore.New(time.Now), reg)
	if _, ok := store.(commands.ItemFinder); !ok {
		t.Fatal("the instrumented store lost the ItemFinder of the store it wraps")
	}
	ctx := context.Background()
	reg1, err := domain.RegisterStation("st", domain.StationProfile{Name: "st"}, []byte("hash"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, domain.DeviceStream("st"), domain.NoStream, []domain.EventData{event(t, reg1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, domain.DeviceStream("st"), domain.NoStream, []domain.EventData{event(t, reg1)}); !errors.Is(err, domain.ErrVersionConflict) {
		t.Fatalf("second registration: %v, want a version conflict", err)
	}
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	batch := domain.MeasurementsRecorded{StationID: "st", Measurements: []domain.Measurement{
		{ID: "m1", Type: "pm25", Value: 1, MeasuredAt: at}, {ID: "m2", Type: "pm25", Value: 2, MeasuredAt: at.Add(time.Minute)}}}
	for range 2 { // the second time both items are duplicates, and no event is added
		if _, err := store.AppendTelemetry(ctx, domain.TelemetryStream("st"), uuid.NewString(), batch); err != nil {
			t.Fatal(err)
		}
	}

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fleetpulse_eventstore_appended_events_total", map[string]string{"kind": "append"}, 1},
		{"fleetpulse_eventstore_appended_events_total", map[string]string{"kind": "telemetry"}, 1},
		{"fleetpulse_eventstore_appended_items_total", nil, 2},
		{"fleetpulse_eventstore_duplicates_total", map[string]string{"kind": "telemetry"}, 2},
		{"fleetpulse_eventstore_append_conflicts_total", nil, 1},
		{"fleetpulse_eventstore_append_duration_seconds", map[string]string{"kind": "append", "outcome": "ok"}, 1},
		{"fleetpulse_eventstore_append_duration_seconds", map[string]string{"kind": "append", "outcome": "conflict"}, 1},
		{"fleetpulse_eventstore_append_duration_seconds", map[string]string{"kind": "telemetry", "outcome": "ok"}, 2},
	} {
		if got, _ := metricstest.Value(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	for _, code := range []string{domain.CodeUnavailable, domain.CodeInternal, domain.CodeConflict} {
		if got, _ := metricstest.Value(t, reg, "fleetpulse_eventstore_append_errors_total", map[string]string{"code": code}); got != 0 {
			t.Errorf("append errors %s = %v, want 0: a conflict is not an error", code, got)
		}
	}
}

func TestProjectionCollector_LagGrowsWhileTheCheckpointStaysBehind(t *testing.T) {
	// The oldest event not applied was appended at a fixed instant: a
	// checkpoint that does not move sees it age at every scrape.
	appended := time.Now().Add(-2 * time.Second)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewProjectionCollector(func(context.Context) ([]metrics.ProjectionStatus, error) {
		return []metrics.ProjectionStatus{
			{Name: "read_models", Events: 10, BacklogKnown: true, Behind: 3, OldestWait: time.Since(appended)},
			{Name: "forwarder", Events: 13, BacklogKnown: true},
			{Name: "on_esdb", Events: 5}, // a log that cannot count its backlog
		}, nil
	}, time.Second, quiet))
	lag := map[string]string{"projection": "read_models"}
	first, _ := metricstest.Value(t, reg, "fleetpulse_projection_lag_seconds", lag)
	time.Sleep(50 * time.Millisecond)
	second, _ := metricstest.Value(t, reg, "fleetpulse_projection_lag_seconds", lag)
	if first < 2 || second <= first {
		t.Fatalf("lag %v then %v: want at least 2 s, growing", first, second)
	}
	for _, tt := range []struct {
		name, projection string
		want             float64
		found            bool
	}{
		{"fleetpulse_projection_events_behind", "read_models", 3, true},
		{"fleetpulse_projection_lag_seconds", "forwarder", 0, true},
		{"fleetpulse_projection_applied_events", "forwarder", 13, true},
		{"fleetpulse_projection_applied_events", "on_esdb", 5, true},
		{"fleetpulse_projection_lag_seconds", "on_esdb", 0, false},
	} {
		got, found := metricstest.Value(t, reg, tt.name, map[string]string{"projection": tt.projection})
		if got != tt.want || found != tt.found {
			t.Errorf("%s{%s} = %v (found %v), want %v (found %v)", tt.name, tt.projection, got, found, tt.want, tt.found)
		}
	}
}

func TestCollectors_AFailedQueryLeavesItsSeriesOutOfThatScrapeOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.NewProjectionCollector(func(context.Context) ([]metrics.ProjectionStatus, error) {
			return nil, errors.New("database away")
		}, time.Second, quiet),
		metrics.NewDeviceCollector(func(context.Context) ([]metrics.DeviceCount, error) {
			return nil, errors.New("database away")
		}, time.Second, quiet),
		prometheus.NewCounter(prometheus.CounterOpts{Name: "other_total", Help: "h"}),
	)
	if _, found := metricstest.Value(t, reg, "other_total", nil); !found {
		t.Fatal("the rest of the scrape was lost")
	}
	if _, found := metricstest.Value(t, reg, "fleetpulse_devices", nil); found {
		t.Fatal("devices reported although they could not be counted")
	}
}

func TestPoolAndDeviceCollectors_DescribeARealDatabase(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	// Two stations, one of them silent, and a decommissioned vehicle.
	for _, q := range []string{
		`INSERT INTO rm_devices (device_id, kind, name, version, decommissioned, registered_at, updated_at) VALUES
		   ('s1', 'station', 's1', 0, false, now(), now()), ('s2', 'station', 's2', 0, false, now(), now()),
		   ('v1', 'vehicle', 'v1', 0, true, now(), now())`,
		`INSERT INTO rm_device_status (device_id, online, since) VALUES ('s1', false, now()), ('v1', false, now())`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewPoolCollector(pool), metrics.NewDeviceCollector(func(ctx context.Context) ([]metrics.DeviceCount, error) {
		counts, err := readmodel.CountDevices(ctx, pool)
		out := make([]metrics.DeviceCount, len(counts))
		for i, c := range counts {
			out[i] = metrics.DeviceCount(c)
		}
		return out, err
	}, 5*time.Second, quiet))
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fleetpulse_devices", map[string]string{"kind": "station"}, 2},
		{"fleetpulse_devices_silent", map[string]string{"kind": "station"}, 1},
		{"fleetpulse_pgxpool_max_connections", nil, float64(pool.Stat().MaxConns())},
	} {
		if got, _ := metricstest.Value(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if _, found := metricstest.Value(t, reg, "fleetpulse_devices", map[string]string{"kind": "vehicle"}); found {
		t.Error("a decommissioned vehicle was counted in service")
	}
	if got, _ := metricstest.Value(t, reg, "fleetpulse_pgxpool_acquires_total", nil); got < 2 {
		t.Errorf("acquires = %v, want the test's own (at least 2)", got)
	}
}
