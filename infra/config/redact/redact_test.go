package redact_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/fleetpulse/fleetpulse/infra/config/redact"
)

// Every form pgx accepts a PostgreSQL password in comes out as the same
// kind of URL: the connection's user, hosts, database and TLS mode, and a
// mask where the password was.
func TestPostgres_PrintsTheConnectionWithoutItsPassword(t *testing.T) {
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGPASSFILE", "/nonexistent")
	tests := []struct {
		name, conn string
		secrets    []string
		want       string
	}{
		{"URL with a password", "postgres://fleet:s3cretpw@db.example:5432/fleetpulse?sslmode=disable",
			[]string{"s3cretpw"}, "postgres://fleet:xxxxx@db.example:5432/fleetpulse?sslmode=disable"},
		{"postgresql scheme, percent-encoded password", "postgresql://fleet:s3cret%40pw@db.example/fleetpulse?sslmode=require",
			[]string{"s3cret%40pw", "s3cret@pw"}, "postgres://fleet:xxxxx@db.example:5432/fleetpulse?sslmode=require"},
		{"URL with a password= query parameter", "postgres://fleet@db.example/fleetpulse?password=s3cretpw&sslmode=disable",
			[]string{"s3cretpw"}, "postgres://fleet:xxxxx@db.example:5432/fleetpulse?sslmode=disable"},
		{"URL with an sslpassword query parameter", "postgres://fleet@db.example/fleetpulse?sslpassword=s3cretkeypw&sslmode=disable",
			[]string{"s3cretkeypw"}, "postgres://fleet@db.example:5432/fleetpulse?sslmode=disable"},
		{"keyword/value", "host=db.example password=s3cretpw user=postgres dbname=fleetpulse sslmode=disable",
			[]string{"s3cretpw"}, "postgres://postgres:xxxxx@db.example:5432/fleetpulse?sslmode=disable"},
		{"keyword/value, quoted password with a space and a quote", `host=db.example password='s3cret \'pw x' user=postgres sslmode=disable`,
			[]string{"s3cret", "'pw x"}, "postgres://postgres:xxxxx@db.example:5432/?sslmode=disable"},
		{"keyword/value, Unix socket", "host=/var/run/postgresql password=s3cretpw user=postgres dbname=fleetpulse sslmode=disable",
			[]string{"s3cretpw"}, "postgres://postgres:xxxxx@%2Fvar%2Frun%2Fpostgresql:5432/fleetpulse?sslmode=disable"},
		{"several hosts", "postgres://fleet:s3cretpw@db1.example:5432,db2.example:5433/fleetpulse?sslmode=disable",
			[]string{"s3cretpw"}, "postgres://fleet:xxxxx@db1.example:5432,db2.example:5433/fleetpulse?sslmode=disable"},
		{"IPv6 host, default TLS", "postgres://fleet:s3cretpw@[::1]:5432/fleetpulse",
			[]string{"s3cretpw"}, "postgres://fleet:xxxxx@[::1]:5432/fleetpulse?sslmode=prefer"},
		{"a run-time parameter named like a secret", "postgres://fleet@db.example/fleetpulse?sslmode=disable&application_name=fp&my.api_token=s3crettoken",
			[]string{"s3crettoken"}, "postgres://fleet@db.example:5432/fleetpulse?application_name=fp&my.api_token=xxxxx&sslmode=disable"},
		{"no password", "postgres://postgres@127.0.0.1:5432/fleetpulse?sslmode=disable",
			nil, "postgres://postgres@127.0.0.1:5432/fleetpulse?sslmode=disable"},
		{"does not parse", "host=db.example password=s3cretpw port=notaport",
			[]string{"s3cretpw"}, redact.UnparsablePostgres},
		{"URL that does not parse", "postgres://fleet:s3cretpw@db.example:notaport/fleetpulse",
			[]string{"s3cretpw"}, redact.UnparsablePostgres},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact.Postgres(tt.conn)
			if got != tt.want {
				t.Errorf("Postgres(%q)\n = %q\nwant %q", tt.conn, got, tt.want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("%q holds the secret %q", got, s)
				}
			}
		})
	}
}

// PGPASSWORD and a password file fill in the password too; it is masked
// whatever its source.
func TestPostgres_APasswordFromTheEnvironmentIsMaskedToo(t *testing.T) {
	t.Setenv("PGPASSWORD", "s3cretenvpw")
	got := redact.Postgres("host=db.example user=postgres dbname=fleetpulse sslmode=disable")
	if got != "postgres://postgres:xxxxx@db.example:5432/fleetpulse?sslmode=disable" {
		t.Errorf("got %q", got)
	}
}

func TestURL_RemovesPasswordsTokensAndSecretParameters(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://fleet:s3cretpw@nats.example:4222", "nats://fleet:xxxxx@nats.example:4222"},
		{"nats://s3crettoken@nats.example:4222", "nats://xxxxx@nats.example:4222"},
		{"nats://fleet:s3cretpw@a:4222,nats://fleet:s3cretpw@b:4222", "nats://fleet:xxxxx@a:4222,nats://fleet:xxxxx@b:4222"},
		{"tcp://bridge:s3cretpw@mqtt.example:1883", "tcp://bridge:xxxxx@mqtt.example:1883"},
		{"esdb://admin:s3cretpw@eventstore:2113?tls=false", "esdb://admin:xxxxx@eventstore:2113?tls=false"},
		{"esdb+discover://admin:s3cretpw@h1:2113,h2:2113?tls=true&tlsVerifyCert=false", "esdb+discover://admin:xxxxx@h1:2113,h2:2113?tls=true&tlsVerifyCert=false"},
		{"esdb://admin:s3cretpw@eventstore:notaport", "esdb://admin:xxxxx@eventstore:notaport"},
		{"ws://broker.example/mqtt?token=s3crettoken&x=1#top", "ws://broker.example/mqtt?token=xxxxx&x=1#top"},
		{"tcp://user:p@ss:s3cretpw@host:1883", "tcp://user:xxxxx@host:1883"},
	}
	for _, tt := range tests {
		if got := redact.URL(tt.in); got != tt.want {
			t.Errorf("URL(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// A URL parser's error quotes the URL it refused; what Error returns says
// the same without the secrets, and still unwraps to the cause.
func TestError_RemovesTheSecretsOfTheConnectionStringFromAnErrorsText(t *testing.T) {
	raw := "esdb://admin:s3cret%40pw@eventstore:notaport?tls=false"
	_, parseErr := url.Parse(raw)
	if parseErr == nil || !strings.Contains(parseErr.Error(), "s3cret") {
		t.Fatalf("the example needs an error that quotes the URL: %v", parseErr)
	}
	err := redact.Error(fmt.Errorf("open: %w", parseErr), raw)
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("%q still holds the password", err)
	}
	if !strings.Contains(err.Error(), "eventstore") {
		t.Errorf("%q says nothing any more", err)
	}
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		t.Error("the redacted error does not unwrap to the url.Error")
	}
	if redact.Error(nil, raw) != nil {
		t.Error("Error(nil) is not nil")
	}

	pgErr := errors.New(`cannot parse "host=db password=s3cretpw": reason`)
	if got := redact.Error(pgErr, "host=db password=s3cretpw").Error(); strings.Contains(got, "s3cretpw") {
		t.Errorf("%q holds the PostgreSQL password", got)
	}
}

func TestCheckPostgres_RefusesWithoutQuotingTheString(t *testing.T) {
	if err := redact.CheckPostgres("postgres://postgres@127.0.0.1:5432/fleetpulse?sslmode=disable"); err != nil {
		t.Errorf("a good URL: %v", err)
	}
	err := redact.CheckPostgres("host=db password=s3cretpw port=notaport")
	if !errors.Is(err, redact.ErrUnparsablePostgres) || strings.Contains(err.Error(), "s3cretpw") {
		t.Errorf("got %v", err)
	}
}
