// Package metricstest reads series back from a Prometheus registry in tests.
package metricstest

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Value is the value of the series of family name whose labels include
// labels: a counter's or gauge's value, a histogram's count of
// observations. ok is false when no such series is gathered.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, want := range labels {
				if have[k] != want {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			case m.Untyped != nil:
				return m.GetUntyped().GetValue(), true
			}
		}
	}
	return 0, false
}

// Eventually waits up to 10 s for the series to reach want, failing the
// test with what it last saw otherwise: counters updated just after an
// outcome is reported need a moment.
func Eventually(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := Value(t, g, name, labels)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v (found: %v), want %v", name, labels, v, ok, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
