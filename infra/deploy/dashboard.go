package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
)

// DashboardPath and RulesPath are the Grafana dashboard and the Prometheus
// alert rules, relative to the repository root.
const (
	DashboardPath = "deploy/grafana/fleetpulse.json"
	RulesPath     = "deploy/prometheus/rules.yml"
)

// Dashboard is the part of a Grafana dashboard's JSON model the checks read.
type Dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Panel is one panel of a dashboard; rows are panels of type "row".
type Panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Datasource  *Datasource `json:"datasource"`
	GridPos     struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		RefID        string      `json:"refId"`
		Expr         string      `json:"expr"`
		LegendFormat string      `json:"legendFormat"`
		Datasource   *Datasource `json:"datasource"`
	} `json:"targets"`
}

// Datasource names the data source a panel or query reads.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// ReadDashboard reads a dashboard's JSON model.
func ReadDashboard(path string) (Dashboard, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Dashboard{}, err
	}
	var d Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return Dashboard{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Exprs are the PromQL expressions of every query of every panel.
func (d Dashboard) Exprs() []string {
	var out []string
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, t.Expr)
		}
	}
	return out
}

var seriesName = regexp.MustCompile(`\bfleetpulse_[a-z0-9_]+`)

// SeriesNames are the fleetpulse series the dashboard's expressions read,
// sorted, each once (a histogram's as its _bucket, _sum or _count series).
func (d Dashboard) SeriesNames() []string {
	var names []string
	for _, e := range d.Exprs() {
		names = append(names, seriesName.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
