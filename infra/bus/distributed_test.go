package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/metrics/metricstest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

const testNATSURL = "nats://127.0.0.1:4222"

// natsOrSkip skips the test when no NATS server listens on loopback.
func natsOrSkip(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
	if err != nil {
		t.Skipf("NATS is not reachable on 127.0.0.1:4222 (%v): skipping the NATS command bus test", err)
	}
	c.Close()
}

// uniquePrefix keeps parallel runs' streams and tables apart.
func uniquePrefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// deleteStreams removes the JetStream streams of a test's prefix.
func deleteStreams(t *testing.T, prefix string) {
	conn, err := nats.Connect(testNATSURL)
	if err != nil {
		t.Errorf("clean up streams: %v", err)
		return
	}
	defer conn.Close()
	js, err := conn.JetStream()
	if err != nil {
		t.Errorf("clean up streams: %v", err)
		return
	}
	for name := range js.StreamNames() {
		if strings.HasPrefix(name, prefix+"_") {
			if err := js.DeleteStream(name); err != nil {
				t.Errorf("delete stream %s: %v", name, err)
			}
		}
	}
}

// forEachBackend runs test once per distributed backend, each with its own
// database and prefix (NATS streams are deleted afterwards); the NATS run is
// skipped when no server listens.
func forEachBackend(t *testing.T, test func(t *testing.T, pool *pgxpool.Pool, cfg Config)) {
	for _, backend := range []string{"nats", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "nats" {
				natsOrSkip(t)
			}
			pool, _ := pgtest.NewDatabase(t)
			cfg := Config{Backend: backend, NATSURL: testNATSURL, Pool: pool, Prefix: uniquePrefix(),
				AckWait: 5 * time.Second, ReplyTimeout: 10 * time.Second}
			if backend == "nats" {
				t.Cleanup(func() { deleteStreams(t, cfg.Prefix) })
			}
			test(t, pool, cfg)
		})
	}
}

func TestDistributedBus_RedeliveredMeasurementsAreDuplicatesNotCopies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pool *pgxpool.Pool, cfg Config) {
		ctx := context.Background()
		logger := testLogger()
		store := eventstore.New(pool, eventstore.Config{Unbatched: true})
		app := commands.NewApplication(store, time.Now, domain.TelemetryPolicy{MaxFutureSkew: time.Minute})
		worker, err := NewWorker(ctx, app, cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		defer worker.Close()
		sender, err := NewSender(ctx, cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		defer sender.Close()

		if _, err := sender.Dispatch(ctx, &commands.RegisterStation{Caller: commands.Caller{Admin: true}, ID: "st-1",
			Profile: domain.StationProfile{Name: "one"}, TokenHash: []byte("0123456789abcdef0123456789abcdef")}); err != nil {
			t.Fatalf("register: %v", err)
		}
		now := time.Now().UTC().Truncate(time.Second)
		cmd := &commands.RecordMeasurements{Caller: commands.Caller{Admin: true}, StationID: "st-1"}
		for i := 0; i < 3; i++ {
			cmd.Measurements = append(cmd.Measurements, domain.Measurement{ID: fmt.Sprintf("m%d", i), Type: "pm25",
				Value: float64(i), MeasuredAt: now.Add(-time.Duration(i) * time.Minute)})
		}
		first, err := sender.Dispatch(ctx, cmd)
		if err != nil || first.Accepted != 3 {
			t.Fatalf("first delivery: %+v, %v", first, err)
		}
		// The same command again, as a redelivery after a worker died
		// before acking would hand it to a worker.
		again, err := sender.Dispatch(ctx, cmd)
		if err != nil || again.Accepted != 0 || again.Duplicates != 3 {
			t.Fatalf("redelivery: %+v, %v; want 0 accepted, 3 duplicates", again, err)
		}
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM measurement_items WHERE device_id = 'st-1'`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("measurements stored: %d (%v), want 3", n, err)
		}
		// A refused command comes back as its domain error.
		_, err = sender.Dispatch(ctx, &commands.RecordMeasurements{Caller: commands.Caller{Admin: true}, StationID: "nope",
			Measurements: cmd.Measurements})
		if domain.Code(err) != domain.Code(domain.ErrDeviceNotFound) {
			t.Fatalf("unknown station: %v, want not found", err)
		}
		if cfg.Backend == "postgres" {
			// A sender's reply table lives as long as the sender.
			if err := sender.Close(); err != nil {
				t.Fatal(err)
			}
			var left int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE $1`,
				"watermill_"+cfg.Prefix+"_replies_%").Scan(&left); err != nil || left != 0 {
				t.Fatalf("reply tables left after close: %d (%v)", left, err)
			}
		}
	})
}

func TestDistributedBus_UndecodableCommandGoesToPoisonTopicWithReason(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pool *pgxpool.Pool, cfg Config) {
		ctx := context.Background()
		logger := testLogger()
		cfg = cfg.withDefaults()
		reg := prometheus.NewRegistry()
		cfg.Metrics = NewMetrics(reg)
		app := commands.NewApplication(eventstore.New(pool, eventstore.Config{Unbatched: true}), time.Now, domain.TelemetryPolicy{})
		worker, err := NewWorker(ctx, app, cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		defer worker.Close()
		var ends senderEnds
		if cfg.Backend == "nats" {
			ends, err = natsSender(ctx, cfg, "poison", watermill.NopLogger{})
		} else {
			ends, err = postgresSender(ctx, cfg, "poison", watermill.NopLogger{})
		}
		if err != nil {
			t.Fatal(err)
		}
		defer ends.close()
		msg := message.NewMessage(watermill.NewUUID(), []byte(`{"measurements": "not a list"}`))
		msg.Metadata.Set("name", "RecordMeasurements")
		msg.Metadata.Set(replyToKey, ends.replyTopic)
		if err := ends.commands.Publish(cfg.commandTopic("RecordMeasurements"), msg); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			reason := poisonReason(t, cfg, pool)
			if strings.Contains(reason, "cannot unmarshal") {
				metricstest.Eventually(t, reg, "fleetpulse_commands_poisoned_total", map[string]string{"command": "RecordMeasurements"}, 1)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no poisoned command with a decoding error (last reason %q)", reason)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// poisonReason reads the reason of the last poisoned command, if any.
func poisonReason(t *testing.T, cfg Config, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) string {
	if cfg.Backend == "postgres" {
		var reason string
		_ = pool.QueryRow(context.Background(), `SELECT metadata->>'reason_poisoned' FROM "watermill_`+cfg.poisonTopic()+`"
			ORDER BY "offset" DESC LIMIT 1`).Scan(&reason)
		return reason
	}
	conn, err := nats.Connect(testNATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	js, _ := conn.JetStream()
	m, err := js.GetLastMsg(cfg.poisonTopic(), cfg.poisonTopic())
	if err != nil {
		return ""
	}
	return m.Header.Get("reason_poisoned")
}

// testLogger shows warnings and errors under -v, nothing otherwise.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestDistributedBus_ACommandWhoseCallerGaveUpIsNotStored sends a command
// while no worker runs: the caller's deadline passes and it is told to retry
// (unavailable). A worker started later finds the command in the queue and
// must not store it, or the device's retry would store its data a second time
// (measurements without ids get new ones on every try).
func TestDistributedBus_ACommandWhoseCallerGaveUpIsNotStored(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pool *pgxpool.Pool, cfg Config) {
		ctx := context.Background()
		logger := testLogger()
		app := commands.NewApplication(eventstore.New(pool, eventstore.Config{Unbatched: true}), time.Now, domain.TelemetryPolicy{MaxFutureSkew: time.Minute})
		sender, err := NewSender(ctx, cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		defer sender.Close()
		worker, err := NewWorker(ctx, app, cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sender.Dispatch(ctx, &commands.RegisterStation{Caller: commands.Caller{Admin: true}, ID: "st-1",
			Profile: domain.StationProfile{Name: "one"}, TokenHash: []byte("0123456789abcdef0123456789abcdef")}); err != nil {
			t.Fatalf("register: %v", err)
		}
		if err := worker.Close(); err != nil {
			t.Fatal(err)
		}

		record := func(value float64) *commands.RecordMeasurements {
			return &commands.RecordMeasurements{Caller: commands.Caller{Admin: true}, StationID: "st-1",
				Measurements: []domain.Measurement{{Type: "pm25", Value: value, MeasuredAt: time.Now().UTC().Add(-time.Minute)}}}
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err = sender.Dispatch(short, record(1))
		cancel()
		if !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("with no worker: %v, want unavailable", err)
		}

		worker, err = NewWorker(ctx, app, cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		defer worker.Close()
		if out, err := sender.Dispatch(ctx, record(2)); err != nil || out.Accepted != 1 {
			t.Fatalf("a fresh command after the restart: %+v, %v", out, err)
		}
		time.Sleep(500 * time.Millisecond) // room for the stale command, had it been handled after the fresh one
		var values []float64
		rows, err := pool.Query(ctx, `SELECT value FROM measurement_items WHERE device_id = 'st-1' ORDER BY position`)
		if err != nil {
			t.Fatal(err)
		}
		values, err = pgx.CollectRows(rows, pgx.RowTo[float64])
		if err != nil {
			t.Fatal(err)
		}
		if len(values) != 1 || values[0] != 2 {
			t.Fatalf("stored values %v, want only the fresh command's [2]", values)
		}
	})
}
