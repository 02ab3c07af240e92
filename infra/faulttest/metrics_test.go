package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/infra/deploy"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// prometheusServer is a Prometheus of the test's own on loopback.
type prometheusServer struct {
	base   string
	client *http.Client
}

// startPrometheus runs Prometheus scraping targets (job name -> host:port)
// every second, with deploy/prometheus/rules.yml loaded, until the test
// ends. Its configuration and data live in t.TempDir().
func startPrometheus(t *testing.T, targets map[string]string) *prometheusServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (scripts/ensure-prometheus.sh installs it): skipping the Prometheus test")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %q\nscrape_configs:\n",
		filepath.Join(root, deploy.RulesPath))
	for job, addr := range targets {
		// The read API asks for a key on /metrics; the others ignore it.
		config += fmt.Sprintf("  - job_name: %q\n    authorization:\n      credentials: %q\n    static_configs:\n      - targets: [%q]\n", job, adminToken, addr)
	}
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := &processSpec{name: "prometheus", binary: bin, addr: freeAddr(t)}
	p := spec.startWith(t, "--config.file="+configPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+spec.addr, "--log.level=warn")
	s := &prometheusServer{base: spec.url(), client: newClient(5 * time.Second)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := s.client.Get(s.base + "/-/ready"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if !p.running() || time.Now().After(deadline) {
			t.Fatalf("Prometheus did not get ready (running: %v); its log ends:\n%s", p.running(), p.logTail(15))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sample is one series of an instant query's answer.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value(t *testing.T) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("value %v: %v", s.Value, err)
	}
	return v
}

// query runs an instant query through the HTTP API; an expression
// Prometheus refuses fails the test.
func (s *prometheusServer) query(t *testing.T, expr string) []sample {
	t.Helper()
	resp, err := s.client.Get(s.base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	if body.Status != "success" {
		t.Fatalf("query %s: %s %s", expr, resp.Status, body.Error)
	}
	return body.Data.Result
}

// eventually polls expr until ok holds for its answer, failing after within.
func (s *prometheusServer) eventually(t *testing.T, within time.Duration, expr, want string, ok func([]sample) bool) []sample {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := s.query(t, expr)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %v within %s, want %s", expr, got, within, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestMetrics_PrometheusScrapesEverySeriesTheDashboardUsesAndSeesAStuckProjectorFallBehind
// runs the three services and a real Prometheus on loopback: every series
// the Grafana dashboard reads is scraped, every panel's expression and
// every alert rule evaluates, and a projector stuck behind a lock on its
// checkpoint shows a lag that keeps growing until it gets going again.
func TestMetrics_PrometheusScrapesEverySeriesTheDashboardUsesAndSeesAStuckProjectorFallBehind(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "127.0.0.1:1883", time.Second); err != nil {
		t.Skipf("no MQTT broker on 127.0.0.1:1883 (scripts/ensure-brokers.sh starts one): %v", err)
	} else {
		_ = c.Close()
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := deploy.ReadDashboard(filepath.Join(root, deploy.DashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	pool, pgURL := pgtest.NewDatabase(t)
	topicRoot := "fp-metrics-" + uuid.NewString()[:8]
	command := commandAPISpec(t, pgURL, map[string]string{
		"FLEETPULSE_MQTT_ENABLED": "true", "FLEETPULSE_MQTT_URL": "tcp://127.0.0.1:1883",
		"FLEETPULSE_MQTT_TOPIC_ROOT": topicRoot, "FLEETPULSE_MQTT_CLIENT_ID": topicRoot,
	})
	projector := projectorSpec(t, pgURL, nil)
	read := readAPISpec(t, pgURL, nil)
	command.startReady(t)
	projector.startReady(t)
	read.startReady(t)
	prom := startPrometheus(t, map[string]string{
		"fleetpulse-command-api": command.addr, "fleetpulse-projector": projector.addr, "fleetpulse-read-api": read.addr,
	})

	// Traffic that makes every labelled series the dashboard reads appear:
	// a registration, one refused by its handler, telemetry over HTTP and
	// MQTT (one message refused), a read.
	client := newClient(10 * time.Second)
	st := registerStation(t, client, command.url(), "st-1", "Europe/Warsaw")
	if a := send(client, http.MethodPost, command.url()+"/v1/stations", adminToken, map[string]any{
		"id": "st-1", "name": "again", "location": map[string]float64{"lat": 1, "lon": 2}}); a.status != http.StatusConflict {
		t.Fatalf("second registration: %v, want 409", a)
	}
	rng := rand.New(rand.NewPCG(seed, 16))
	if a := postMeasurements(client, command.url(), st, measurements(rng, "http", 5)); !a.ok() {
		t.Fatalf("post measurements: %v", a)
	}
	publishMQTT(t, topicRoot, st, `{"token": %q, "measurements": [{"id": "mqtt-1", "type": "pm25", "value": 3, "measured_at": %q}]}`)
	publishMQTT(t, topicRoot, st, `{"token": "st-1.wrong%s", "measurements": [{"id": "mqtt-2", "type": "pm25", "value": 3, "measured_at": %q}]}`)
	if a := send(client, http.MethodGet, read.url()+"/v1/stations", adminToken, nil); !a.ok() {
		t.Fatalf("read stations: %v", a)
	}

	prom.eventually(t, 30*time.Second, `sum(up{job=~"fleetpulse-.*"})`, "3 targets up", func(s []sample) bool {
		return len(s) == 1 && s[0].value(t) == 3
	})
	for _, name := range dashboard.SeriesNames() {
		prom.eventually(t, 30*time.Second, "count("+name+")", "the series scraped", func(s []sample) bool { return len(s) == 1 })
	}
	for _, expr := range dashboard.Exprs() {
		prom.query(t, expr) // fails the test if Prometheus refuses it
	}
	rulesLoaded(t, prom)

	// Stall the projector: a transaction holds its checkpoint row, as a
	// long lock or a hung statement would, so its next batch waits.
	ctx := context.Background()
	prom.eventually(t, 30*time.Second, `fleetpulse_projection_lag_seconds{projection="read_models"}`, "caught up (0)", func(s []sample) bool {
		return len(s) == 1 && s[0].value(t) == 0
	})
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT 1 FROM projection_checkpoints WHERE name = 'read_models' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	if a := postMeasurements(client, command.url(), st, measurements(rng, "stuck", 3)); !a.ok() {
		t.Fatalf("post measurements: %v", a)
	}
	lag := `fleetpulse_projection_lag_seconds{projection="read_models"}`
	first := prom.eventually(t, 30*time.Second, lag, "a lag of at least 2 s", func(s []sample) bool {
		return len(s) == 1 && s[0].value(t) >= 2
	})[0].value(t)
	later := prom.eventually(t, 30*time.Second, lag, fmt.Sprintf("the lag to grow past %.1f s", first+2), func(s []sample) bool {
		return len(s) == 1 && s[0].value(t) >= first+2
	})[0].value(t)
	t.Logf("read models' lag while the projector is stuck: %.1f s, then %.1f s", first, later)
	prom.eventually(t, 10*time.Second, `fleetpulse_projection_events_behind{projection="read_models"}`, "at least 1 event behind", func(s []sample) bool {
		return len(s) == 1 && s[0].value(t) >= 1
	})
	// Released, the projector applies its batch and the lag falls to 0.
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	prom.eventually(t, 30*time.Second, lag+` + fleetpulse_projection_events_behind{projection="read_models"}`, "caught up again (0)", func(s []sample) bool {
		return len(s) == 1 && s[0].value(t) == 0
	})
}

// publishMQTT publishes body (a format with the token's and a measured time's
// %q) on the station's measurements topic, as a device would.
func publishMQTT(t *testing.T, topicRoot string, d device, body string) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://127.0.0.1:1883").SetClientID("fp-metrics-dev-" + uuid.NewString()[:8]))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	payload := fmt.Sprintf(body, d.token, time.Now().UTC().Add(-time.Minute).Format(time.RFC3339))
	if tok := c.Publish(topicRoot+"/"+d.id+"/measurements", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt publish: %v", tok.Error())
	}
}

// rulesLoaded waits until Prometheus has evaluated every alert rule of
// rules.yml without an error.
func rulesLoaded(t *testing.T, prom *prometheusServer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := prom.client.Get(prom.base + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		rules, healthy := 0, 0
		var last string
		for _, g := range body.Data.Groups {
			for _, r := range g.Rules {
				rules++
				if r.Health == "ok" {
					healthy++
				} else {
					last = fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError)
				}
			}
		}
		if rules >= 4 && healthy == rules {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rules evaluated without error (%s)", healthy, rules, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
