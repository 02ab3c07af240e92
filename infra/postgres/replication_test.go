package postgres_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestReplicationCollector_OnAPrimarySaysSoAndNothingMore: a primary is not
// in recovery and has no replication lag to report. (The standby's side is
// checked on a real streaming standby in infra/faulttest.)
func TestReplicationCollector_OnAPrimarySaysSoAndNothingMore(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(postgres.ReplicationCollector(pool, quiet))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[f.GetName()] = m.GetGauge().GetValue()
		}
	}
	if len(got) != 1 || got["fleetpulse_pg_in_recovery"] != 0 {
		t.Errorf("metrics on a primary: %v, want only fleetpulse_pg_in_recovery 0", got)
	}
	if _, ok := got["fleetpulse_pg_in_recovery"]; !ok {
		t.Errorf("fleetpulse_pg_in_recovery missing: %v", got)
	}
}
