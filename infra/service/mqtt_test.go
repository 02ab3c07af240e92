package service_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

// The command API started with FLEETPULSE_MQTT_ENABLED runs the bridge on
// the same command bus: a measurement sent over MQTT is a duplicate over HTTP.
func TestCommandAPI_WithMQTTEnabledStoresWhatDevicesPublish(t *testing.T) {
	const broker = "127.0.0.1:1883"
	if c, err := net.DialTimeout("tcp", broker, time.Second); err != nil {
		t.Skipf("no MQTT broker at %s (start mosquitto to run this test): %v", broker, err)
	} else {
		_ = c.Close()
	}
	run := uuid.NewString()[:8]
	clientID := "test-command-api-" + run
	_, url := pgtest.NewDatabase(t)
	cfg, err := config.FromEnv(func(name string) string {
		return map[string]string{
			"FLEETPULSE_PG_URL":           url,
			"FLEETPULSE_ADMIN_TOKEN":      "admin",
			"FLEETPULSE_COMMAND_ADDR":     "127.0.0.1:0",
			"FLEETPULSE_MQTT_ENABLED":     "true",
			"FLEETPULSE_MQTT_URL":         "tcp://" + broker,
			"FLEETPULSE_MQTT_CLIENT_ID":   clientID,
			"FLEETPULSE_MQTT_SHARE_GROUP": "test-" + run,
			"FLEETPULSE_MQTT_TOPIC_ROOT":  "fp-test-" + run,
		}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.WithPostgres(func(ctx context.Context, cfg config.Config, env service.Env, logger *slog.Logger) error {
			return service.RunCommandAPI(ctx, cfg, env, logger, func(_, a string) { addr <- a })
		})(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("command API stopped with %v", err)
		}
		// Drop the bridge's persistent session from the broker.
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker).SetClientID(clientID).SetCleanSession(true))
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			c.Disconnect(100)
		}
	})
	var command string
	select {
	case a := <-addr:
		command = "http://" + a
	case err := <-done:
		t.Fatalf("command API stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("command API did not start")
	}

	id := "mqtt-" + run
	var reg struct{ Token string }
	if status := call(t, "POST", command+"/v1/stations", "admin",
		`{"id": "`+id+`", "name": "n", "location": {"lat": 1, "lon": 2}}`, &reg); status != 201 {
		t.Fatalf("register: %d", status)
	}

	dev := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("test-device-" + run).SetCleanSession(true))
	if tok := dev.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	defer dev.Disconnect(100)
	results := make(chan map[string]any, 64)
	if tok := dev.Subscribe("fp-test-"+run+"/"+id+"/results", 1, func(_ mqtt.Client, m mqtt.Message) {
		var r map[string]any
		_ = json.Unmarshal(m.Payload(), &r)
		results <- r
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("device subscribe: %v", tok.Error())
	}

	measurement := `{"id": "m1", "type": "pm25", "value": 12.5, "measured_at": "` + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + `"}`
	msg := `{"token": "` + reg.Token + `", "measurements": [` + measurement + `]}`
	// The bridge subscribes a moment after the API is up: send until it answers
	// (the measurement's id makes every repeat a duplicate).
	deadline := time.Now().Add(15 * time.Second)
	var r map[string]any
	for r == nil {
		if time.Now().After(deadline) {
			t.Fatal("no result from the bridge")
		}
		dev.Publish("fp-test-"+run+"/"+id+"/measurements", 1, false, msg).WaitTimeout(5 * time.Second)
		select {
		case r = <-results:
		case <-time.After(500 * time.Millisecond):
		}
	}
	if r["accepted"] != 1.0 && r["duplicates"] != 1.0 {
		t.Fatalf("result %v, want the measurement accepted", r)
	}
	var out struct{ Accepted, Duplicates int }
	if status := call(t, "POST", command+"/v1/stations/"+id+"/measurements", reg.Token,
		`{"measurements": [`+measurement+`]}`, &out); status != 201 || out.Duplicates != 1 {
		t.Fatalf("the same measurement over HTTP: %d %+v, want a duplicate", status, out)
	}
}
