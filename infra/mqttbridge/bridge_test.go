package mqttbridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/bus"
	"github.com/fleetpulse/fleetpulse/infra/mqttbridge"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/wire"
)

const brokerAddr = "127.0.0.1:1883"

// testRoot keeps this package's topics apart from other tests' bridges on
// the same broker (another package's bridge would answer our devices).
var testRoot = "fp-test-" + uuid.NewString()[:8]

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// needBroker skips the test when no MQTT broker listens locally.
func needBroker(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", brokerAddr, time.Second)
	if err != nil {
		t.Skipf("no MQTT broker at %s (start mosquitto to run this test): %v", brokerAddr, err)
	}
	_ = c.Close()
}

// env is a database, an in-process bus in front of it, and a unique run id.
type env struct {
	pool *pgxpool.Pool
	bus  *bus.CommandBus
	run  string
}

func newEnv(t *testing.T) env {
	t.Helper()
	needBroker(t)
	pool, _ := pgtest.NewDatabase(t)
	app := commands.NewApplication(eventstore.New(pool, eventstore.Config{Unbatched: true}), func() time.Time { return now }, domain.DefaultTelemetryPolicy)
	b, err := bus.NewInProcess(app, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return env{pool: pool, bus: b, run: uuid.NewString()[:8]}
}

// register makes a station or vehicle and returns its device token.
func (e env) register(t *testing.T, vehicle bool, id string) string {
	t.Helper()
	secret := uuid.NewString()
	hash := wire.HashSecret(secret)
	var cmd any = &commands.RegisterStation{Caller: commands.Caller{Admin: true}, ID: id, TokenHash: hash,
		Profile: domain.StationProfile{Name: "n", Location: domain.Location{Lat: 1, Lon: 2}}}
	if vehicle {
		cmd = &commands.RegisterVehicle{Caller: commands.Caller{Admin: true}, VID: id, TokenHash: hash,
			Profile: domain.VehicleProfile{Name: "n"}}
	}
	if _, err := e.bus.Dispatch(context.Background(), cmd); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	return id + "." + secret
}

// enrol registers a station, or a vehicle, of this run and connects it as
// a device: its id, its token and its MQTT client.
func (e env) enrol(t *testing.T, vehicle bool) (id, token string, dev *device) {
	t.Helper()
	id = "st-" + e.run
	if vehicle {
		id = "veh-" + e.run
	}
	token = e.register(t, vehicle, id)
	return id, token, newDevice(t, id)
}

// startBridge runs a bridge in its own share group until the test ends.
func startBridge(t *testing.T, e env, d wire.Dispatcher, cfg mqttbridge.Config) (stop func()) {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = "test-bridge-" + e.run
		cfg.CleanSession = true
	}
	cfg.URL = "tcp://" + brokerAddr
	cfg.ShareGroup = "test-" + e.run
	cfg.TopicRoot = testRoot
	cfg.AdminToken = "admin"
	b := mqttbridge.New(d, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("bridge stopped: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("bridge did not subscribe within 10s")
	}
	var once atomic.Bool
	stop = func() {
		if once.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// device is a test MQTT client that publishes and reads its results topic.
type device struct {
	id      string
	client  mqtt.Client
	results chan map[string]any
}

func newDevice(t *testing.T, id string) *device {
	t.Helper()
	d := &device{id: id, results: make(chan map[string]any, 16)}
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("test-device-" + id).SetCleanSession(true)
	d.client = mqtt.NewClient(opts)
	if tok := d.client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	t.Cleanup(func() { d.client.Disconnect(100) })
	tok := d.client.Subscribe(mqttbridge.ResultsTopic(testRoot, id), 1, func(_ mqtt.Client, m mqtt.Message) {
		var r map[string]any
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			r = map[string]any{"unparsable": string(m.Payload())}
		}
		d.results <- r
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("device subscribe: %v", tok.Error())
	}
	return d
}

func (d *device) publish(t *testing.T, kind, payload string) {
	t.Helper()
	tok := d.client.Publish(testRoot+"/"+d.id+"/"+kind, 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// result waits for the result of the message with requestID. Results of
// other messages (another bridge on the same broker, say) are skipped.
func (d *device) result(t *testing.T, requestID string) map[string]any {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case r := <-d.results:
			if r["request_id"] == requestID || requestID == "" {
				return r
			}
			t.Logf("skipping result %v", r)
		case <-deadline:
			t.Fatalf("no result for %q on %s", requestID, mqttbridge.ResultsTopic(testRoot, d.id))
		}
	}
}

func errorCode(r map[string]any) string {
	e, _ := r["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func measurements(token, requestID, id string) string {
	return fmt.Sprintf(`{"token": %q, "request_id": %q, "measurements": [{"id": %q, "type": "pm25", "value": 12.5, "measured_at": "2026-06-01T11:00:00Z"}]}`,
		token, requestID, id)
}

func TestBridge_MeasurementsAreStoredOnceAndReported(t *testing.T) {
	e := newEnv(t)
	startBridge(t, e, e.bus, mqttbridge.Config{})
	id, token, dev := e.enrol(t, false)
	mid := uuid.NewString()

	dev.publish(t, "measurements", measurements(token, "r1", mid))
	r := dev.result(t, "r1")
	if r["accepted"] != 1.0 || r["duplicates"] != 0.0 {
		t.Fatalf("first message: %v, want accepted 1", r)
	}
	if n := telemetry(t, e, id); n != 1 {
		t.Fatalf("measurement stored %d times, want 1", n)
	}

	dev.publish(t, "measurements", measurements(token, "r2", mid))
	r = dev.result(t, "r2")
	if r["accepted"] != 0.0 || r["duplicates"] != 1.0 {
		t.Fatalf("repeated message: %v, want 1 duplicate", r)
	}
	if n := telemetry(t, e, id); n != 1 {
		t.Fatalf("measurement stored %d times after a repeat, want 1", n)
	}
}

// telemetry counts the telemetry items (measurements or vehicle events)
// stored for a device, whatever batches they came in.
func telemetry(t *testing.T, e env, device string) int {
	t.Helper()
	return e.count(t, `SELECT (SELECT count(*) FROM measurement_items WHERE device_id = $1) + (SELECT count(*) FROM vehicle_event_items WHERE device_id = $1)`, device)
}

func TestBridge_RefusedMessagesAreReportedAndNotStored(t *testing.T) {
	e := newEnv(t)
	startBridge(t, e, e.bus, mqttbridge.Config{})
	id, other := "st-"+e.run, "st2-"+e.run
	e.register(t, false, id)
	otherToken := e.register(t, false, other)
	dev := newDevice(t, id)
	before := e.total(t)

	cases := []struct {
		name, payload, code string
	}{
		{"another device's token", measurements(otherToken, "forbidden", uuid.NewString()), domain.CodeForbidden},
		{"no token", measurements("", "anonymous", uuid.NewString()), domain.CodeUnauthorized},
		{"a wrong secret", measurements(id+".wrong", "wrong", uuid.NewString()), domain.CodeUnauthorized},
		{"malformed JSON", `{"token": "x", "measurements": [`, "malformed_json"},
		{"an unknown field", `{"token": "x", "measurement": []}`, "malformed_json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev.publish(t, "measurements", c.payload)
			// A message that does not parse has no request id to echo.
			r := dev.result(t, requestIDOf(c.payload))
			if errorCode(r) != c.code {
				t.Fatalf("result %v, want code %s", r, c.code)
			}
		})
	}
	if after := e.total(t); after != before {
		t.Fatalf("refused messages stored %d events", after-before)
	}
}

func requestIDOf(payload string) string {
	var m struct {
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal([]byte(payload), &m)
	return m.RequestID
}

func (e env) total(t *testing.T) int {
	t.Helper()
	return e.count(t, `SELECT count(*) FROM events`)
}

// count runs a count(*) query.
func (e env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A refused batch names its item, whether an item breaks a rule or does
// not decode; the latter in the HTTP API's words: the value and the form it
// must have. The request id is echoed and nothing is stored.
func TestBridge_InvalidBatchNamesItsIndex(t *testing.T) {
	e := newEnv(t)
	startBridge(t, e, e.bus, mqttbridge.Config{})
	_, token, dev := e.enrol(t, false)
	before := e.total(t)

	for _, c := range []struct {
		requestID, second, code, field, message string
	}{
		{"bad", `{"type": "PM 2.5", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}`, domain.CodeInvalid, "type", ""},
		{"typed", `{"type": "pm25", "value": "12", "measured_at": "2026-06-01T11:00:00Z"}`, "malformed_json", "value",
			`measurements[1].value must be a number, not the string "12"`},
	} {
		dev.publish(t, "measurements", `{"token": "`+token+`", "request_id": "`+c.requestID+`", "measurements": [
		{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}, `+c.second+`]}`)
		r := dev.result(t, c.requestID)
		e2, _ := r["error"].(map[string]any)
		if errorCode(r) != c.code || e2["index"] != 1.0 || e2["field"] != c.field || (c.message != "" && e2["message"] != c.message) {
			t.Fatalf("result %v, want %s naming field %s of item 1 %s", r, c.code, c.field, c.message)
		}
	}
	if after := e.total(t); after != before {
		t.Fatalf("an invalid batch stored %d events", after-before)
	}
}

func TestBridge_VehicleEventsAreStored(t *testing.T) {
	e := newEnv(t)
	startBridge(t, e, e.bus, mqttbridge.Config{})
	vid, token, dev := e.enrol(t, true)
	eid := uuid.NewString()
	before := telemetry(t, e, vid)

	dev.publish(t, "events", fmt.Sprintf(`{"token": %q, "request_id": "ev", "events": [
		{"eid": %q, "type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 42}},
		{"type": "door_open", "occurred_at": "2026-06-01T11:00:01Z"}]}`, token, eid))
	r := dev.result(t, "ev")
	eids, _ := r["eids"].([]any)
	if r["accepted"] != 2.0 || len(eids) != 2 || eids[0] != eid {
		t.Fatalf("result %v, want 2 accepted with eids [%s ...]", r, eid)
	}
	if after := telemetry(t, e, vid); after != before+2 {
		t.Fatalf("stored %d vehicle events, want 2", after-before)
	}
}

// flaky fails the first n dispatches as the event store being away.
type flaky struct {
	next     wire.Dispatcher
	failures atomic.Int32
	calls    atomic.Int32
}

func (f *flaky) Dispatch(ctx context.Context, cmd any) (commands.Outcome, error) {
	f.calls.Add(1)
	if f.failures.Add(-1) >= 0 {
		return commands.Outcome{}, fmt.Errorf("append: %w", domain.ErrUnavailable)
	}
	return f.next.Dispatch(ctx, cmd)
}

func TestBridge_TransientFailureIsRetriedNotReported(t *testing.T) {
	e := newEnv(t)
	f := &flaky{next: e.bus}
	f.failures.Store(2)
	startBridge(t, e, f, mqttbridge.Config{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	_, token, dev := e.enrol(t, false)

	dev.publish(t, "measurements", measurements(token, "retry", uuid.NewString()))
	r := dev.result(t, "retry")
	if r["accepted"] != 1.0 || f.calls.Load() != 3 {
		t.Fatalf("result %v after %d attempts, want accepted 1 after 3", r, f.calls.Load())
	}
}

// A message whose failure outlives the bridge is not acknowledged: the
// broker hands it to the bridge's session again when it comes back.
func TestBridge_UnackedMessageIsRedeliveredAfterRestart(t *testing.T) {
	e := newEnv(t)
	clientID := "test-bridge-persistent-" + e.run
	t.Cleanup(func() { dropSession(clientID) })
	f := &flaky{next: e.bus}
	f.failures.Store(1 << 20) // down until the restart
	stop := startBridge(t, e, f, mqttbridge.Config{ClientID: clientID, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	id, token, dev := e.enrol(t, false)
	mid := uuid.NewString()

	dev.publish(t, "measurements", measurements(token, "redeliver", mid))
	deadline := time.Now().Add(10 * time.Second)
	for f.calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if n := telemetry(t, e, id); n != 0 {
		t.Fatalf("stored %d while the store was away", n)
	}
	select {
	case r := <-dev.results:
		t.Fatalf("a transient failure was reported as final: %v", r)
	default:
	}

	startBridge(t, e, e.bus, mqttbridge.Config{ClientID: clientID})
	r := dev.result(t, "redeliver")
	if r["accepted"] != 1.0 || telemetry(t, e, id) != 1 {
		t.Fatalf("after restart: %v, stored %d; want accepted 1", r, telemetry(t, e, id))
	}
}

// dropSession removes a persistent session a test left at the broker.
func dropSession(clientID string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID(clientID).SetCleanSession(true))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}

func TestBridge_StopsWhileTheBrokerIsAway(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	b := mqttbridge.New(nil, mqttbridge.Config{URL: "tcp://" + addr, ClientID: "test-away"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// lockedBuffer collects log lines written from the bridge's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBridge_NoBrokerPasswordInLogs runs the bridge with credentials in the
// broker URL and reads everything it logs, at debug level, while it connects
// (or keeps trying, if the broker refuses them) and stops.
func TestBridge_NoBrokerPasswordInLogs(t *testing.T) {
	e := newEnv(t)
	const password = "s3cret-broker-pass"
	var logs lockedBuffer
	b := mqttbridge.New(e.bus, mqttbridge.Config{URL: "tcp://fleet:" + password + "@" + brokerAddr, ClientID: "test-creds-" + e.run,
		CleanSession: true, ShareGroup: "test-" + e.run, TopicRoot: testRoot},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case <-time.After(6 * time.Second): // past the "not reachable yet" warning
	}
	cancel()
	if err := <-done; err != nil && strings.Contains(err.Error(), password) {
		t.Fatalf("the bridge's error holds the password: %v", err)
	}
	if !strings.Contains(logs.String(), brokerAddr) {
		t.Fatalf("the broker was never logged, so this test shows nothing; logs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), password) {
		t.Fatalf("a broker password reached the logs:\n%s", logs.String())
	}
	if strings.Contains(b.Broker(), password) {
		t.Fatalf("Broker() = %q holds the password", b.Broker())
	}
}
