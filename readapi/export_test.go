package readapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

func newReadAPI(t *testing.T, pool *pgxpool.Pool, now time.Time) string {
	t.Helper()
	h := readapi.NewHandler(mustQueries(t, pool), readapi.Config{RequestTimeout: time.Minute, Auth: readapi.AuthConfig{Open: true}}, func() time.Time { return now },
		httpx.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func addStation(t *testing.T, pool *pgxpool.Pool, id, zone string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO rm_devices (device_id, kind, name, lat, lon, timezone, version, registered_at, updated_at)
VALUES ($1, 'station', $1, 1, 2, $2, 0, now(), now())`, id, zone)
	if err != nil {
		t.Fatal(err)
	}
}

// TestExport_AYearOfMinuteDataStreamsInBoundedMemory exports 525,600 raw
// points and watches the heap while it streams.
func TestExport_AYearOfMinuteDataStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a year of data")
	}
	pool, _ := pgtest.NewDatabase(t)
	addStation(t, pool, "st", "UTC")
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 365 * 24 * 60
	ms := make([]projections.MeasurementRow, n)
	for i := range ms {
		ms[i] = projections.MeasurementRow{DeviceID: "st", Type: "pm25", MeasuredAt: start.Add(time.Duration(i) * time.Minute),
			Value: float64(i % 100), MeasurementID: "m" + strconv.Itoa(i)}
	}
	seedRaw(t, pool, ms, nil)
	url := newReadAPI(t, pool, start.AddDate(1, 0, 0))
	for _, format := range []string{"csv", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			var peak atomic.Uint64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				var m runtime.MemStats
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
						runtime.ReadMemStats(&m)
						if m.HeapAlloc > peak.Load() {
							peak.Store(m.HeapAlloc)
						}
					}
				}
			}()
			resp, err := http.Get(url + "/v1/stations/st/export?type=pm25&format=" + format +
				"&from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			lines := 0
			sc := bufio.NewScanner(resp.Body)
			var first, last string
			for sc.Scan() {
				if lines == 1 {
					first = sc.Text()
				}
				last = sc.Text()
				lines++
			}
			close(stop)
			<-sampled
			want := n
			if format == "csv" {
				want++ // header
			}
			if lines != want {
				t.Fatalf("exported %d lines, want %d", lines, want)
			}
			if format == "ndjson" {
				var row struct {
					MeasuredAt time.Time `json:"measured_at"`
					Value      float64
				}
				if err := json.Unmarshal([]byte(last), &row); err != nil || !row.MeasuredAt.Equal(start.Add((n-1)*time.Minute)) {
					t.Fatalf("last row %q: %v", last, err)
				}
			} else if !strings.HasPrefix(first, "2025-01-01T00:00:00Z,") {
				t.Fatalf("first row %q", first)
			}
			grown := int64(peak.Load()) - int64(base.HeapAlloc)
			t.Logf("%s: %d rows, heap grew by at most %.1f MiB while streaming", format, n, float64(grown)/(1<<20))
			// The whole export is ~20 MiB of text; streaming keeps the heap far below it.
			if grown > 16<<20 {
				t.Fatalf("heap grew by %d bytes while streaming", grown)
			}
		})
	}
}

// mustQueries is the read API's PostgreSQL store over pool.
func mustQueries(t testing.TB, pool *pgxpool.Pool) *readmodel.Queries {
	t.Helper()
	q, err := readmodel.NewQueries(pool)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
