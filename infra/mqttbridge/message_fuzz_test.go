package mqttbridge

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/bus"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/wire"
)

// FuzzBridgeMessage hands arbitrary topics and payloads to the bridge's
// message handling over a real event store (no broker needed: this is the
// part that decodes what devices publish). With PostgreSQL up every message
// gets a final outcome, a refusal names a client error and stores nothing,
// and only a message carrying the device's own token is accepted.
func FuzzBridgeMessage(f *testing.F) {
	const stationToken, vehicleToken = "st-a.station-secret", "veh-a.vehicle-secret"
	for _, seed := range []struct{ topic, payload string }{
		{"fleetpulse/st-a/measurements", `{"token": "` + stationToken + `", "request_id": "r1", "measurements": [{"id": "m1", "type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`},
		{"fleetpulse/st-a/measurements", `{"token": "` + vehicleToken + `", "measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`},
		{"fleetpulse/st-a/measurements", `{"token": "st-a.wrong", "measurements": [{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`},
		{"fleetpulse/st-a/measurements", `{"token": "` + stationToken + `", "measurements": [{"type": "pm25", "value": 1, "measured_at": "9999-12-31T00:00:00Z"}]}`},
		{"fleetpulse/st-a/measurements", `{"token": "` + stationToken + `", "measurements": []}`},
		{"fleetpulse/st-a/measurements", `{"token": "` + stationToken + `", "measurements": [{"id": "x'; DROP TABLE events;--", "type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}]}`},
		{"fleetpulse/veh-a/events", `{"token": "` + vehicleToken + `", "events": [{"eid": "e1", "type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 50}, "data": {"a": [1]}}]}`},
		{"fleetpulse/veh-a/events", `{"token": "` + vehicleToken + `", "events": [{"type": "t", "occurred_at": "2026-06-01T11:00:00Z", "data": ` + "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]" + `}]}`},
		{"fleetpulse/../measurements", `{}`},
		{"fleetpulse/\xff/measurements", `{"token": "\xff.x", "measurements": []}`},
		{"fleetpulse/st-a/results", `{}`},
	} {
		f.Add(seed.topic, []byte(seed.payload))
	}

	pool, _ := pgtest.NewDatabase(f)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	app := commands.NewApplication(eventstore.New(pool, eventstore.Config{Unbatched: true}), func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) },
		domain.DefaultTelemetryPolicy)
	cmdBus, err := bus.NewInProcess(app, logger, 10*time.Second)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = cmdBus.Close() })
	operator := commands.Caller{Admin: true}
	for _, cmd := range []any{
		&commands.RegisterStation{Caller: operator, ID: "st-a", TokenHash: wire.HashSecret("station-secret"),
			Profile: domain.StationProfile{Name: "n", Location: domain.Location{Lat: 1, Lon: 2}}},
		&commands.RegisterVehicle{Caller: operator, VID: "veh-a", TokenHash: wire.HashSecret("vehicle-secret"),
			Profile: domain.VehicleProfile{Name: "n"}},
	} {
		if _, err := cmdBus.Dispatch(context.Background(), cmd); err != nil {
			f.Fatal(err)
		}
	}
	bridge := New(cmdBus, Config{MaxPayloadBytes: 64 << 10}, logger)
	events := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		device, kind, ok := parseTopic(bridge.cfg.TopicRoot, topic)
		if !ok {
			return // the bridge subscribes to these topics only
		}
		before := events(t)
		result, final := bridge.handle(device, kind, payload)
		if !final {
			t.Fatalf("%s: no final outcome with PostgreSQL up", topic)
		}
		if _, err := json.Marshal(result); err != nil {
			t.Fatalf("%s: the result cannot be published: %v", topic, err)
		}
		stored := events(t) != before
		switch r := result.(type) {
		case ErrorResult:
			if r.Error.Code == domain.CodeInternal || r.Error.Code == domain.CodeUnavailable {
				t.Fatalf("%s %q: %+v", topic, payload, r.Error)
			}
			if stored {
				t.Fatalf("%s: refused (%s) but stored events", topic, r.Error.Code)
			}
		case MeasurementsResult, EventsResult:
			var msg struct{ Token string }
			_ = json.Unmarshal(payload, &msg)
			if want := map[string]string{"st-a": stationToken, "veh-a": vehicleToken}[device]; want == "" || msg.Token != want {
				t.Fatalf("%s: accepted with token %q", topic, msg.Token)
			}
		default:
			t.Fatalf("%s: unexpected result %T", topic, result)
		}
	})
}
