package promtext

import (
	"math"
	"strings"
	"testing"
)

const exposition = `# HELP fleetpulse_http_request_duration_seconds Request latency.
# TYPE fleetpulse_http_request_duration_seconds histogram
fleetpulse_http_request_duration_seconds_bucket{method="POST",route="/v1/stations/{id}/measurements",le="0.01"} 60
fleetpulse_http_request_duration_seconds_bucket{method="POST",route="/v1/stations/{id}/measurements",le="0.05"} 90
fleetpulse_http_request_duration_seconds_bucket{method="POST",route="/v1/stations/{id}/measurements",le="+Inf"} 100
fleetpulse_http_request_duration_seconds_bucket{method="GET",route="/v1/stations",le="0.01"} 5
fleetpulse_http_request_duration_seconds_bucket{method="GET",route="/v1/stations",le="0.05"} 5
fleetpulse_http_request_duration_seconds_bucket{method="GET",route="/v1/stations",le="+Inf"} 5
fleetpulse_projection_lag_seconds 0.25
`

func TestParse_ReadsNamesLabelsAndValues(t *testing.T) {
	ss, err := Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 7 {
		t.Fatalf("got %d samples, want 7", len(ss))
	}
	first := ss[0]
	if first.Name != "fleetpulse_http_request_duration_seconds_bucket" || first.Labels["route"] != "/v1/stations/{id}/measurements" ||
		first.Labels["le"] != "0.01" || first.Value != 60 {
		t.Fatalf("first sample %+v", first)
	}
	if v, ok := Value(ss, "fleetpulse_projection_lag_seconds"); !ok || v != 0.25 {
		t.Fatalf("lag gauge = %v, %v; want 0.25", v, ok)
	}
	if _, ok := Value(ss, "absent"); ok {
		t.Fatal("found a metric that is not there")
	}
}

func TestHistogram_QuantilesOfTheObservationsBetweenTwoScrapes(t *testing.T) {
	after, err := Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	before, err := Parse(strings.NewReader(strings.NewReplacer("} 60", "} 10", "} 90", "} 40", "} 100", "} 50").Replace(exposition)))
	if err != nil {
		t.Fatal(err)
	}
	match := map[string]string{"method": "POST", "route": "/v1/stations/{id}/measurements"}
	const name = "fleetpulse_http_request_duration_seconds"
	h := HistogramOf(after, name, match).Minus(HistogramOf(before, name, match))
	// Cumulative 60/90/100 after, 10/40/50 before: all 50 observations
	// between the scrapes took at most 10 ms.
	tests := []struct {
		name      string
		got, want float64
	}{
		{"total", h.Total(), 50},
		{"p50 inside the first bucket", h.Quantile(0.5), 0.005},
		{"p100 at the first bucket's bound", h.Quantile(1), 0.01},
		{"share under 10 ms", h.FractionBelow(0.010), 1},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	all := HistogramOf(after, name, match)
	if got := all.Quantile(0.99); got != 0.05 {
		t.Errorf("p99 in the +Inf bucket = %v, want the highest finite bound 0.05", got)
	}
	if got := all.Quantile(0.75); math.Abs(got-0.03) > 1e-9 {
		t.Errorf("p75 = %v, want 0.03 (halfway through the 10-50 ms bucket)", got)
	}
	if q := (Histogram{}).Quantile(0.5); !math.IsNaN(q) {
		t.Errorf("quantile of no observations = %v, want NaN", q)
	}
}

func TestValueOf_PicksTheSeriesWithTheGivenLabels(t *testing.T) {
	ss, err := Parse(strings.NewReader(`fleetpulse_projection_lag_seconds{projection="forwarder"} 7
fleetpulse_projection_lag_seconds{projection="read_models"} 0.5
`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := ValueOf(ss, "fleetpulse_projection_lag_seconds", map[string]string{"projection": "read_models"}); !ok || v != 0.5 {
		t.Fatalf("read models' lag = %v, %v; want 0.5", v, ok)
	}
	if _, ok := ValueOf(ss, "fleetpulse_projection_lag_seconds", map[string]string{"projection": "none"}); ok {
		t.Fatal("found a series that is not there")
	}
}
