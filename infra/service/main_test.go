package service

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestMain_NoSecretReachesTheStartUpLogOrAnErrorItLogs runs the start-up
// path every binary runs (runMain: configuration, the "starting" line with
// the whole configuration, the process, its error) with a secret in each
// place one can be set, in each form pgx and the other clients accept, and
// reads the JSON log a process would write to stderr: the secret never
// appears, while what an operator needs (host, user) does.
func TestMain_NoSecretReachesTheStartUpLogOrAnErrorItLogs(t *testing.T) {
	_, pgURL := pgtest.NewDatabase(t) // a reachable PostgreSQL, for the rows that get past it
	t.Setenv("PGPASSFILE", "/nonexistent")
	succeeds := func(context.Context, config.Config, *slog.Logger) error { return nil }
	opensStores := WithPostgres(func(context.Context, config.Config, Env, *slog.Logger) error { return nil })
	commandAPI := WithPostgres(func(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger) error {
		return RunCommandAPI(ctx, cfg, env, logger, nil)
	})
	tests := []struct {
		name    string
		env     map[string]string // FLEETPULSE_* settings
		osEnv   map[string]string // what pgx reads from the process environment
		run     RunFunc
		code    int      // exit code
		secrets []string // none may appear in the log
		want    []string // each must appear in the log
	}{
		{name: "PostgreSQL URL with a password",
			env:     map[string]string{"FLEETPULSE_PG_URL": "postgres://fleet:s3cretpw@db.example:5432/fleetpulse?sslmode=disable"},
			run:     succeeds,
			secrets: []string{"s3cretpw"}, want: []string{`"pg_url":"postgres://fleet:xxxxx@db.example:5432/fleetpulse?sslmode=disable"`}},
		{name: "PostgreSQL URL with a percent-encoded password",
			env:     map[string]string{"FLEETPULSE_PG_URL": "postgresql://fleet:s3cret%40pw@db.example/fleetpulse"},
			run:     succeeds,
			secrets: []string{"s3cret%40pw", "s3cret@pw"}, want: []string{"fleet:xxxxx@db.example:5432"}},
		{name: "PostgreSQL URL with a password= parameter",
			env:     map[string]string{"FLEETPULSE_PG_URL": "postgres://fleet@db.example/fleetpulse?password=s3cretpw&sslmode=disable"},
			run:     succeeds,
			secrets: []string{"s3cretpw"}, want: []string{"fleet:xxxxx@db.example:5432"}},
		{name: "PostgreSQL URL with an sslpassword parameter",
			env:     map[string]string{"FLEETPULSE_PG_URL": "postgres://fleet@db.example/fleetpulse?sslpassword=s3cretkeypw&sslmode=disable"},
			run:     succeeds,
			secrets: []string{"s3cretkeypw"}, want: []string{"fleet@db.example:5432"}},
		{name: "PostgreSQL keyword/value",
			env:     map[string]string{"FLEETPULSE_PG_URL": "host=db.example password=s3cretpw user=postgres"},
			run:     succeeds,
			secrets: []string{"s3cretpw"}, want: []string{"postgres:xxxxx@db.example:5432"}},
		{name: "PostgreSQL keyword/value, quoted password",
			env:     map[string]string{"FLEETPULSE_PG_URL": `host=db.example password='s3cret pw\'x' user=postgres`},
			run:     succeeds,
			secrets: []string{"s3cret"}, want: []string{"postgres:xxxxx@db.example:5432"}},
		{name: "PostgreSQL keyword/value, several hosts",
			env:     map[string]string{"FLEETPULSE_PG_URL": "host=db1.example,db2.example port=5432,5433 password=s3cretpw user=postgres"},
			run:     succeeds,
			secrets: []string{"s3cretpw"}, want: []string{"db1.example:5432,db2.example:5433"}},
		{name: "PostgreSQL password from PGPASSWORD",
			env:     map[string]string{"FLEETPULSE_PG_URL": "host=db.example user=postgres"},
			osEnv:   map[string]string{"PGPASSWORD": "s3cretenvpw"},
			run:     succeeds,
			secrets: []string{"s3cretenvpw"}, want: []string{"postgres:xxxxx@db.example:5432"}},
		{name: "PostgreSQL keyword/value that does not parse",
			env:  map[string]string{"FLEETPULSE_PG_URL": "host=db.example password=s3cretpw port=notaport"},
			run:  succeeds,
			code: 2, secrets: []string{"s3cretpw"}, want: []string{"bad configuration", "FLEETPULSE_PG_URL"}},
		{name: "PostgreSQL URL that does not parse",
			env:  map[string]string{"FLEETPULSE_PG_URL": "postgres://fleet:s3cretpw@db.example:notaport/fleetpulse"},
			run:  succeeds,
			code: 2, secrets: []string{"s3cretpw"}, want: []string{"bad configuration", "FLEETPULSE_PG_URL"}},
		{name: "PostgreSQL out of reach",
			env:  map[string]string{"FLEETPULSE_PG_URL": "postgres://fleet:s3cretpw@127.0.0.1:1/fleetpulse?sslmode=disable&connect_timeout=5"},
			run:  opensStores,
			code: 1, secrets: []string{"s3cretpw"}, want: []string{"stopped with an error", "127.0.0.1"}},
		{name: "NATS URL with a password",
			env:     map[string]string{"FLEETPULSE_NATS_URL": "nats://fleet:s3cretpw@nats.example:4222"},
			run:     succeeds,
			secrets: []string{"s3cretpw"}, want: []string{`"nats_url":"nats://fleet:xxxxx@nats.example:4222"`}},
		{name: "NATS URL with a token",
			env:     map[string]string{"FLEETPULSE_NATS_URL": "nats://s3crettoken@nats.example:4222"},
			run:     succeeds,
			secrets: []string{"s3crettoken"}, want: []string{`"nats_url":"nats://xxxxx@nats.example:4222"`}},
		{name: "NATS out of reach",
			env: map[string]string{"FLEETPULSE_PG_URL": pgURL, "FLEETPULSE_COMMAND_BUS": "nats", "FLEETPULSE_ADMIN_TOKEN": "s3cretadmin",
				"FLEETPULSE_NATS_URL": "nats://fleet:s3cretpw@127.0.0.1:1", "FLEETPULSE_COMMAND_ADDR": "127.0.0.1:0"},
			run:  commandAPI,
			code: 1, secrets: []string{"s3cretpw", "s3cretadmin"}, want: []string{"connect to NATS nats://fleet:xxxxx@127.0.0.1:1"}},
		{name: "MQTT URL with a password",
			env:     map[string]string{"FLEETPULSE_MQTT_URL": "tcp://bridge:s3cretpw@mqtt.example:1883"},
			run:     succeeds,
			secrets: []string{"s3cretpw"}, want: []string{`"mqtt_url":"tcp://bridge:xxxxx@mqtt.example:1883"`}},
		{name: "EventStoreDB URL with a password",
			env:     map[string]string{"FLEETPULSE_ESDB_URL": "esdb://admin:s3cretpw@eventstore:2113?tls=false"},
			run:     succeeds,
			secrets: []string{"s3cretpw"}, want: []string{`"esdb_url":"esdb://admin:xxxxx@eventstore:2113?tls=false"`}},
		{name: "EventStoreDB URL that does not parse",
			env: map[string]string{"FLEETPULSE_PG_URL": pgURL, "FLEETPULSE_EVENT_STORE": "esdb",
				"FLEETPULSE_ESDB_URL": "esdb://admin:s3cretpw@eventstore:notaport?tls=false"},
			run:  opensStores,
			code: 1, secrets: []string{"s3cretpw"}, want: []string{"parse EventStoreDB connection string esdb://admin:xxxxx@eventstore:notaport"}},
		{name: "admin token",
			env:     map[string]string{"FLEETPULSE_ADMIN_TOKEN": "s3cretadmintoken"},
			run:     succeeds,
			secrets: []string{"s3cretadmintoken"}, want: []string{`"admin_token":"(set)"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PGPASSWORD", "")
			for k, v := range tt.osEnv {
				t.Setenv(k, v)
			}
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := runMain(ctx, "test", func(name string) string { return tt.env[name] }, &logs, tt.run)
			out := logs.String()
			if code != tt.code {
				t.Errorf("exit code %d, want %d; log:\n%s", code, tt.code, out)
			}
			if tt.code != 2 && !strings.Contains(out, `"msg":"starting"`) {
				t.Fatalf("no start-up line: the test would prove nothing; log:\n%s", out)
			}
			for _, s := range tt.secrets {
				quoted, _ := json.Marshal(s)
				if strings.Contains(out, s) || strings.Contains(out, string(quoted[1:len(quoted)-1])) {
					t.Errorf("the log holds the secret %q:\n%s", s, out)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("the log does not say %q:\n%s", w, out)
				}
			}
		})
	}
}
