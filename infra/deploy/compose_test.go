package deploy

import (
	"bufio"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// builtServices are the services that run the fleetpulse image.
func (d deployment) builtServices() []string {
	var names []string
	for name, s := range d.compose.Services {
		if d.runsBuiltImage(s) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// One image, built once, named, and run by every fleetpulse service: compose
// builds it for the one service that has a build section and tags it; the
// others name that tag and never try to pull it (no registry has it).
func TestCompose_BuildsOneNamedImageEveryFleetpulseServiceRuns(t *testing.T) {
	d := load(t)
	var builders []string
	for name, s := range d.compose.Services {
		if s.Build != nil {
			builders = append(builders, name)
		}
	}
	if len(builders) != 1 {
		t.Fatalf("services with a build section: %v, want exactly one (the image is built once)", builders)
	}
	if d.builtImage == "" || !strings.Contains(withDefaults(d.builtImage), ":") {
		t.Fatalf("%s builds an image without a name:tag (image: %q)", builders[0], d.builtImage)
	}
	if p := d.compose.Services[builders[0]].PullPolicy; p != "build" {
		t.Errorf("%s: pull_policy %q, want build (the image is ours: build it, never pull it)", builders[0], p)
	}
	for _, name := range []string{"migrate", "command-api", "projector", "read-api", "simulator"} {
		s, ok := d.compose.Services[name]
		if !ok {
			continue
		}
		if !d.runsBuiltImage(s) {
			t.Errorf("%s runs %q, not the built image %q", name, s.Image, d.builtImage)
		}
		if s.Build == nil && s.PullPolicy != "never" {
			t.Errorf("%s: pull_policy %q, want never (the image comes from %s's build)", name, s.PullPolicy, builders[0])
		}
	}
	for name, s := range d.compose.Services {
		if !d.runsBuiltImage(s) && s.Image == "" {
			t.Errorf("%s runs no image", name)
		}
	}
}

// A broker for the devices that speak MQTT, and the command API's bridge
// subscribed to it.
func TestCompose_RunsMosquittoAndTheBridgeUsesIt(t *testing.T) {
	d := load(t)
	var broker string
	for name, s := range d.compose.Services {
		if strings.HasPrefix(s.Image, "eclipse-mosquitto:2") {
			broker = name
		}
	}
	if broker == "" {
		t.Fatal("no eclipse-mosquitto:2 service")
	}
	s := d.compose.Services[broker]
	if s.Healthcheck == nil {
		t.Errorf("%s has no healthcheck", broker)
	}
	var conf string
	for _, v := range s.Volumes {
		if src, dst, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(dst, "/mosquitto/config/mosquitto.conf") {
			conf = filepath.Join(d.root, src)
		}
	}
	if conf == "" {
		t.Fatalf("%s mounts no /mosquitto/config/mosquitto.conf: Mosquitto 2 then listens on its own loopback only", broker)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^listener 1883\s*$`).Match(b) {
		t.Errorf("%s has no `listener 1883`", conf)
	}

	api := d.compose.Services["command-api"]
	if api.Environment["FLEETPULSE_MQTT_ENABLED"] != "true" {
		t.Errorf("command-api: FLEETPULSE_MQTT_ENABLED=%q, want true", api.Environment["FLEETPULSE_MQTT_ENABLED"])
	}
	u, err := url.Parse(withDefaults(api.Environment["FLEETPULSE_MQTT_URL"]))
	if err != nil || u.Hostname() != broker || u.Port() != "1883" {
		t.Errorf("command-api: FLEETPULSE_MQTT_URL=%q, want tcp://%s:1883", api.Environment["FLEETPULSE_MQTT_URL"], broker)
	}
	if api.Environment["FLEETPULSE_MQTT_CLIENT_ID"] == "" {
		t.Error("command-api: no FLEETPULSE_MQTT_CLIENT_ID: the default names the container, which changes, and its queued messages would be lost")
	}
	if _, ok := api.DependsOn[broker]; !ok {
		t.Errorf("command-api does not wait for %s", broker)
	}
}

// Nothing but the two APIs is published on the host, and by default only on
// its loopback interface.
func TestCompose_PublishesOnlyTheTwoAPIsAndOnLoopback(t *testing.T) {
	d := load(t)
	want := map[string]string{"command-api": "8080", "read-api": "8081"}
	for name, s := range d.compose.Services {
		port, isAPI := want[name]
		if !isAPI {
			if len(s.Ports) > 0 {
				t.Errorf("%s publishes %v on the host; only the APIs may", name, s.Ports)
			}
			continue
		}
		if len(s.Ports) != 1 {
			t.Errorf("%s publishes %v, want its port %s once", name, s.Ports, port)
			continue
		}
		parts := strings.Split(withDefaults(s.Ports[0]), ":")
		if len(parts) != 3 {
			t.Errorf("%s: ports %q names no host address (host ip:port:port): Docker would publish it on every interface", name, s.Ports[0])
			continue
		}
		if parts[0] != "127.0.0.1" {
			t.Errorf("%s: ports %q publish on %q by default, want 127.0.0.1", name, s.Ports[0], parts[0])
		}
		if parts[1] != port || parts[2] != port {
			t.Errorf("%s: ports %q, want %s:%s", name, s.Ports[0], port, port)
		}
	}
}

// confSettings reads a postgresql.conf's name = value lines.
func confSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), "'")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// megabytes reads a PostgreSQL memory size such as 256MB or 6GB.
func megabytes(t *testing.T, v string) int {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)(kB|MB|GB)$`).FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("memory size %q", v)
	}
	n, _ := strconv.Atoi(m[1])
	switch m[2] {
	case "kB":
		return n / 1024
	case "GB":
		return n * 1024
	}
	return n
}

// PostgreSQL starts with the settings file for a laptop, which the
// production one (documented) sits beside: same write-heavy shape, same
// durability, a laptop's memory.
func TestCompose_PostgresStartsWithTheLaptopConfigBesideTheProductionOne(t *testing.T) {
	d := load(t)
	pg := d.compose.Services["postgres"]
	if !slices.Contains(pg.Command, "config_file=/etc/postgresql/fleetpulse.conf") {
		t.Fatalf("postgres command %v does not read /etc/postgresql/fleetpulse.conf", pg.Command)
	}
	var mounted string
	for _, v := range pg.Volumes {
		if src, dst, ok := strings.Cut(withDefaults(v), ":"); ok && strings.HasPrefix(dst, "/etc/postgresql/fleetpulse.conf") {
			mounted = filepath.Clean(src)
		}
	}
	if mounted != filepath.Join("infra", "postgres", "postgresql.laptop.conf") {
		t.Fatalf("postgres mounts %q as its settings by default, want infra/postgres/postgresql.laptop.conf", mounted)
	}
	laptop := confSettings(t, filepath.Join(d.root, mounted))
	production := confSettings(t, filepath.Join(d.root, "infra", "postgres", "postgresql.conf"))
	for _, k := range []string{"fsync", "full_page_writes", "synchronous_commit"} {
		if laptop[k] != "on" || production[k] != "on" {
			t.Errorf("%s: laptop %q, production %q, want on in both (a 2xx means the events are on disk)", k, laptop[k], production[k])
		}
	}
	for _, k := range []string{"wal_compression", "checkpoint_timeout", "autovacuum", "listen_addresses"} {
		if laptop[k] == "" || laptop[k] != production[k] {
			t.Errorf("%s: laptop %q, production %q: the laptop file keeps the production shape", k, laptop[k], production[k])
		}
	}
	limits := map[string]int{"shared_buffers": 512, "effective_cache_size": 2048, "maintenance_work_mem": 256, "work_mem": 16, "wal_buffers": 32}
	for k, max := range limits {
		v, ok := laptop[k]
		if !ok {
			t.Errorf("the laptop file does not set %s", k)
			continue
		}
		if mb := megabytes(t, v); mb > max {
			t.Errorf("laptop %s = %s, more than a laptop spares (%d MB)", k, v, max)
		}
	}
	if n, _ := strconv.Atoi(laptop["max_connections"]); n < 4*16+10 {
		t.Errorf("laptop max_connections = %q: four processes with 16 connections each need more", laptop["max_connections"])
	}
	if megabytes(t, production["shared_buffers"]) <= megabytes(t, laptop["shared_buffers"]) {
		t.Error("the production file should not be the laptop's size")
	}
	head, err := os.ReadFile(filepath.Join(d.root, mounted))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(head), "postgresql.conf") || !strings.Contains(string(head), "FLEETPULSE_PG_CONFIG") {
		t.Error("the laptop file does not say where the production settings are and how to pick them")
	}
}

var variableUse = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// Secrets come from the env file: the admin token and the PostgreSQL
// password have no default in the compose file (compose refuses to start
// without them), and every variable the file reads is in .env.example.
func TestCompose_SecretsComeFromTheEnvFile(t *testing.T) {
	d := load(t)
	raw, err := os.ReadFile(filepath.Join(d.root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	example := map[string]string{}
	b, err := os.ReadFile(filepath.Join(d.root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			example[strings.TrimSpace(k)] = v
		}
	}
	for _, m := range variableUse.FindAllStringSubmatch(string(raw), -1) {
		if _, ok := example[m[1]]; !ok {
			t.Errorf("docker-compose.yml reads %s, which .env.example does not list", m[1])
		}
	}
	for _, secret := range []string{"FLEETPULSE_ADMIN_TOKEN", "POSTGRES_PASSWORD"} {
		if v, ok := example[secret]; !ok || v != "" {
			t.Errorf(".env.example: %s=%q, want it listed with no value (each deployment makes its own)", secret, v)
		}
		uses := regexp.MustCompile(`\$\{`+secret+`([^}]*)\}`).FindAllStringSubmatch(string(raw), -1)
		if len(uses) == 0 {
			t.Errorf("docker-compose.yml does not read %s from the environment", secret)
		}
		for _, u := range uses {
			if !strings.HasPrefix(u[1], ":?") {
				t.Errorf("docker-compose.yml reads ${%s%s}: want ${%s:?...}, required and without a default", secret, u[1], secret)
			}
		}
	}
	// No password written into the file: PostgreSQL URLs take it from the variable.
	for name, s := range d.compose.Services {
		for k, v := range s.Environment {
			if u, err := url.Parse(v); err == nil && u.User != nil {
				if pw, set := u.User.Password(); set && !strings.HasPrefix(pw, "${") {
					t.Errorf("%s: %s holds a password written into the file", name, k)
				}
			}
			if (strings.Contains(k, "TOKEN") || strings.Contains(k, "PASSWORD")) && !strings.HasPrefix(v, "${") {
				t.Errorf("%s: %s=%q is written into the file", name, k, v)
			}
		}
	}
}
