package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtoolOrSkip returns promtool's path, or skips: scripts/test.sh installs
// it (scripts/ensure-prometheus.sh).
func promtoolOrSkip(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (scripts/ensure-prometheus.sh installs it): skipping the check of the alert rules")
	}
	return p
}

func TestAlertRules_PassPromtoolsChecksAndTheirUnitTests(t *testing.T) {
	promtool := promtoolOrSkip(t)
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "rules.yml"},
		// The alerts fire, and only, on the series that should fire them.
		{"test", "rules", "rules_test.yml"},
		// The example scrape configuration, with the rules it loads.
		{"check", "config", "prometheus.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestDashboard_IsAWellFormedGrafanaDashboardOnAPrometheusDataSource(t *testing.T) {
	d, err := ReadDashboard(filepath.Join(repoRoot(t), DashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 {
		t.Errorf("title %q, uid %q, schema version %d: want a title, a uid and a current schema", d.Title, d.UID, d.SchemaVersion)
	}
	hasSource := false
	for _, v := range d.Templating.List {
		hasSource = hasSource || (v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus")
	}
	if !hasSource {
		t.Error("no datasource variable picking a Prometheus data source: every panel reads ${datasource}")
	}
	ids := map[int]bool{}
	type box struct{ x, y, w, h int }
	var placed []box
	var title string
	for _, p := range d.Panels {
		title = p.Title
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", title, p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
			t.Errorf("panel %q: grid position %+v is outside the 24-column grid", title, g)
		}
		for _, b := range placed {
			if g.X < b.x+b.w && b.x < g.X+g.W && g.Y < b.y+b.h && b.y < g.Y+g.H {
				t.Errorf("panel %q at %+v overlaps another panel at %+v", title, g, b)
			}
		}
		placed = append(placed, box{g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: data source %+v, want the ${datasource} variable", title, p.Datasource)
		}
		if p.Description == "" || len(p.Targets) == 0 {
			t.Errorf("panel %q: want a description and at least one query", title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: query %+v needs an expression and a refId of its own", title, q)
			}
			refs[q.RefID] = true
			if q.Datasource == nil || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %s does not read ${datasource}", title, q.RefID)
			}
		}
	}
	if len(d.SeriesNames()) < 20 {
		t.Errorf("the dashboard reads %d fleetpulse series: %v", len(d.SeriesNames()), d.SeriesNames())
	}
}

// The panels name the alerts that watch what they show; those alerts exist.
func TestDashboard_NamesOnlyAlertsTheRulesDefine(t *testing.T) {
	d, err := ReadDashboard(filepath.Join(repoRoot(t), DashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), RulesPath))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			defined[r.Alert] = true
		}
	}
	for _, want := range []string{"FleetpulseProjectorBehind", "FleetpulsePoisonedCommands", "FleetpulseHTTP5xxRate", "FleetpulseDevicesSilent"} {
		if !defined[want] {
			t.Errorf("rules.yml has no alert %s", want)
		}
	}
	named := regexp.MustCompile(`alert: (Fleetpulse\w+)`)
	for _, p := range d.Panels {
		for _, m := range named.FindAllStringSubmatch(p.Description, -1) {
			if !defined[m[1]] {
				t.Errorf("panel %q names alert %s, which rules.yml does not define", p.Title, m[1])
			}
		}
	}
}
