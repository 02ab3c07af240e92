package bustest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestCommandBusThroughput measures measurements/s through one command API
// process per command bus backend (and one worker process for nats and
// postgres): -clients devices post batches of 100 with client ids, each
// waiting for its reply before the next. It runs only when
// FLEETPULSE_BUS_BENCH_DURATION is set (e.g. 20s); see docs/benchmarks.md, "Command buses".
func TestCommandBusThroughput(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("FLEETPULSE_BUS_BENCH_DURATION"))
	if err != nil || d <= 0 {
		t.Skip("set FLEETPULSE_BUS_BENCH_DURATION (e.g. 20s) to measure command bus throughput")
	}
	backends := []string{"inprocess", "nats", "postgres"}
	if b := os.Getenv("FLEETPULSE_BUS_BENCH_BACKENDS"); b != "" {
		backends = strings.Split(b, ",")
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			api, worker := binaries(t)
			_, dbURL := pgtest.NewDatabase(t)
			prefix := "t" + randomHex(4)
			if backend == "nats" {
				t.Cleanup(func() { deleteStreams(t, prefix) })
			}
			env := []string{
				"FLEETPULSE_PG_URL=" + dbURL, "FLEETPULSE_ADMIN_TOKEN=admin",
				"FLEETPULSE_COMMAND_BUS=" + backend, "FLEETPULSE_NATS_URL=" + natsURL, "FLEETPULSE_BUS_PREFIX=" + prefix,
				"FLEETPULSE_DEVICE_RATE=100000", "FLEETPULSE_DEVICE_BURST=100000", "FLEETPULSE_LOG_LEVEL=warn",
			}
			if backend != "inprocess" {
				start(t, "worker", worker, "FLEETPULSE_WORKER_ADDR", env)
			}
			a := start(t, "api", api, "FLEETPULSE_COMMAND_ADDR", env)
			rate, failed := throughput(t, "http://"+a.addr, 16, 100, d)
			t.Logf("BUS THROUGHPUT %s: %.0f measurements/s (16 clients, batches of 100, %v, %d failed requests)",
				backend, rate, d, failed)
		})
	}
}

func throughput(t *testing.T, base string, clients, batch int, d time.Duration) (float64, int64) {
	tokens := make([]string, clients)
	for i := range tokens {
		var reg struct{ Token string }
		st, err := post(base+"/v1/stations", "admin", fmt.Sprintf(`{"id": "b-%d", "name": "bench %d", "location": {"lat": 50, "lon": 19}}`, i, i), &reg)
		if err != nil || st != 201 {
			t.Fatalf("register: %d %v", st, err)
		}
		tokens[i] = reg.Token
	}
	var accepted, failed atomic.Int64
	var wg sync.WaitGroup
	now := time.Now().UTC().Truncate(time.Second)
	began := time.Now()
	stop := began.Add(d)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			items := make([]string, batch)
			for b := 0; time.Now().Before(stop); b++ {
				for i := range items {
					items[i] = fmt.Sprintf(`{"id": "%d-%d", "type": "pm25", "value": %d, "measured_at": %q}`,
						b, i, i, now.Add(-time.Duration(b*batch+i)*time.Second).Format(time.RFC3339))
				}
				var res struct{ Accepted int }
				st, err := post(fmt.Sprintf("%s/v1/stations/b-%d/measurements", base, c), tokens[c],
					`{"measurements": [`+strings.Join(items, ",")+`]}`, &res)
				if err != nil || st != 201 {
					failed.Add(1)
					continue
				}
				accepted.Add(int64(res.Accepted))
			}
		}(c)
	}
	wg.Wait()
	return float64(accepted.Load()) / time.Since(began).Seconds(), failed.Load()
}
