package service_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/importer"
)

// BenchmarkImport_CSV records b.N rows of 1-minute data of 10 stations (a
// CSV export without ids, rows interleaved by time) through the command
// handlers (called in-process, as by fleetpulse import) into the event
// store, without a projector: the import's own
// cost, for its CPU profile (-cpuprofile). scripts/import-bench.sh measures
// the import end to end.
func BenchmarkImport_CSV(b *testing.B) {
	const stations = 10
	e := newImportEnv(b)
	ids := make([]string, stations)
	for s := range ids {
		ids[s] = fmt.Sprintf("bench-%d", s)
	}
	e.register(b, ids...)
	var buf bytes.Buffer
	buf.WriteString("station,type,value,measured_at\n")
	start := time.Now().UTC().Truncate(time.Minute).Add(-time.Duration(b.N/stations+1) * time.Minute)
	for i := range b.N {
		m, s := i/stations, i%stations
		fmt.Fprintf(&buf, "%s,pm25,%.1f,%s\n", ids[s], float64((m*7+s)%500)/10, start.Add(time.Duration(m)*time.Minute).Format(time.RFC3339))
	}
	im := importer.New(importer.Handlers{App: e.app}, importer.Config{Policy: domain.DefaultTelemetryPolicy})
	dec, err := importer.NewDecoder(importer.CSV, &buf)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	p, err := im.Run(context.Background(), dec, importer.Progress{}, func(context.Context, importer.Progress) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if p.Accepted != int64(b.N) {
		b.Fatalf("%d of %d rows accepted", p.Accepted, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
