package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// unreachable is a PostgreSQL nobody serves: a command that touched the
// database with it would fail.
const unreachable = "postgres://postgres:s3cretpw@127.0.0.1:1/fleetpulse?sslmode=disable"

// seedLog appends a station's registration and two measurements.
func seedLog(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	store := eventstore.New(pool, eventstore.Config{Unbatched: true})
	defer store.Close()
	reg, err := domain.RegisterStation("st-1", domain.StationProfile{Name: "st-1"}, []byte("hash"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, e := range []struct {
		stream string
		ev     domain.Event
	}{
		{domain.DeviceStream("st-1"), reg},
		{domain.TelemetryStream("st-1"), domain.MeasurementRecorded{StationID: "st-1", MeasurementID: "m1", Type: "pm25", Value: 1, MeasuredAt: at}},
		{domain.TelemetryStream("st-1"), domain.MeasurementRecorded{StationID: "st-1", MeasurementID: "m2", Type: "pm25", Value: 2, MeasuredAt: at.Add(time.Minute)}},
	} {
		d, err := domain.NewEventData(uuid.NewString(), e.ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(context.Background(), e.stream, domain.AnyVersion, []domain.EventData{d}); err != nil {
			t.Fatal(err)
		}
	}
}

// step is one command line and what it must do. The steps run in order on
// one database: a step may rely on what the ones before it did, or did not.
type step struct {
	args     []string
	env      map[string]string // over FLEETPULSE_PG_URL of the test's database
	terminal bool              // stdin is a terminal
	stdin    string
	code     int
	stdout   []string // each must appear in stdout
	stderr   []string // each must appear in the error line (code != 0) or in stderr
	// json, when set, decodes stdout and checks it.
	json func(t *testing.T, out []byte)
}

func TestCLI_FlagsHelpExitCodesConfirmationAndJSON(t *testing.T) {
	pool, pgURL := pgtest.NewDatabase(t)
	seedLog(t, pool)
	archived := map[string]string{"FLEETPULSE_ARCHIVE_URL": t.TempDir(), "FLEETPULSE_DEDUP_HORIZON": "1ms", "FLEETPULSE_ARCHIVE_HORIZON": "1ms"}
	noCheckpoints := func(t *testing.T, out []byte) {
		var sts []statusJSON
		if err := json.Unmarshal(out, &sts); err != nil || len(sts) != 0 {
			t.Fatalf("status --json = %s (%v), want [] before any projection ran", out, err)
		}
	}
	projectionsAre := func(want ...string) func(*testing.T, []byte) {
		return func(t *testing.T, out []byte) {
			var ps []projectionJSON
			if err := json.Unmarshal(out, &ps); err != nil {
				t.Fatalf("projection list --json = %s: %v", out, err)
			}
			var got []string
			for _, p := range ps {
				zone := "device"
				if p.Zone != nil {
					zone = *p.Zone
				}
				got = append(got, p.Name+"/"+time.Duration(p.WidthMinutes*int(time.Minute)).String()+"/"+zone)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("projections %v, want %v", got, want)
			}
		}
	}

	steps := []step{
		// Help never acts, whatever else the line says.
		{args: []string{"rebuild", "-h"}, code: 0, stdout: []string{"Usage:", "fleetpulse rebuild [flags]", "--yes"}},
		{args: []string{"rebuild", "--help", "--yes"}, code: 0, stdout: []string{"Usage:"}},
		{args: []string{"migrate", "-h"}, env: map[string]string{"FLEETPULSE_PG_URL": unreachable}, code: 0, stdout: []string{"Usage:"}},
		{args: []string{"projection", "remove", "--name", "q15", "-h"}, code: 0, stdout: []string{"--name"}},
		{args: []string{"help"}, code: 0, stdout: []string{"rebuild", "projection", "FLEETPULSE_PG_URL", "FLEETPULSE_PROJECTOR_BATCH"}},
		{args: []string{"--help"}, code: 0, stdout: []string{"Available Commands:", "FLEETPULSE_ADMIN_TOKEN"}},
		// Mistakes in the command line: exit 2, one line naming the flag or
		// argument, nothing done.
		{args: nil, code: 2, stderr: []string{"a command is needed", "dev", "rebuild"}},
		{args: []string{"bogus"}, code: 2, stderr: []string{`unknown command "bogus"`}},
		{args: []string{"status", "--bogus"}, code: 2, stderr: []string{"unknown flag: --bogus", "fleetpulse status --help"}},
		{args: []string{"status", "extra"}, code: 2, stderr: []string{`status takes no arguments, got "extra"`}},
		{args: []string{"projection"}, code: 2, stderr: []string{"a command is needed: one of add, list, remove"}},
		{args: []string{"projection", "rename"}, code: 2, stderr: []string{`unknown command "rename"`}},
		{args: []string{"projection", "add"}, code: 2, stderr: []string{"--name is required"}},
		{args: []string{"dev", "--backfill", "soon"}, code: 2, stderr: []string{`invalid argument "soon" for "--backfill"`}},
		{args: []string{"simulate", "--stations", "-3"}, code: 2, stderr: []string{"--stations"}},
		{args: []string{"simulate"}, code: 2, stderr: []string{"FLEETPULSE_ADMIN_TOKEN is required"}},
		{args: []string{"dev"}, env: map[string]string{"FLEETPULSE_PROJECTOR_SHARES": "2"}, code: 2, stderr: []string{"dev runs one projector; unset FLEETPULSE_PROJECTOR_SHARES (it is 2)"}},
		// Settings: a bad one is named, and so is the one to check when
		// PostgreSQL cannot be reached (without its password).
		{args: []string{"status"}, env: map[string]string{"FLEETPULSE_PG_MAX_CONNS": "many"}, code: 2,
			stderr: []string{`FLEETPULSE_PG_MAX_CONNS: want a positive integer, got "many"`}},
		{args: []string{"status"}, env: map[string]string{"FLEETPULSE_PG_URL": unreachable}, code: 1,
			stderr: []string{"check FLEETPULSE_PG_URL", "127.0.0.1:1"}},
		// Destructive commands say what they will do; without a terminal
		// they need --yes; on one they ask.
		{args: []string{"rebuild"}, code: 2, stderr: []string{"rebuilds the read models from the 3 events", "stdin is not a terminal: add --yes"}},
		{args: []string{"rebuild"}, terminal: true, stdin: "n\n", code: 1, stderr: []string{"Go on? [y/N]", "not confirmed; nothing was done"}},
		{args: []string{"status", "--json"}, code: 0, json: noCheckpoints},
		{args: []string{"rebuild"}, terminal: true, stdin: "yes\n", code: 0, stdout: []string{"rebuilt read models from 3 events"}},
		{args: []string{"replay", "--yes"}, code: 0, stdout: []string{"rebuilt read models from 3 events"}},
		{args: []string{"status", "--json"}, code: 0, json: func(t *testing.T, out []byte) {
			var sts []statusJSON
			if err := json.Unmarshal(out, &sts); err != nil || len(sts) != 1 {
				t.Fatalf("status --json = %s (%v), want the read models' checkpoint", out, err)
			}
			s := sts[0]
			if s.Projection != "read_models" || s.EventsApplied != 3 || s.Behind == nil || *s.Behind != 0 || s.OldestWaitingSeconds == nil {
				t.Fatalf("status %+v, want read_models with 3 events applied, 0 behind", s)
			}
		}},
		{args: []string{"status"}, code: 0, stdout: []string{"PROJECTION", "read_models"}},
		// Single-dash long flags of earlier versions still work.
		{args: []string{"projection", "add", "-name", "q15", "-width", "15m"}, code: 0, stdout: []string{"bucket projection q15 (15m0s) added", "rebuilt read models from 3 events"}},
		{args: []string{"projection", "add", "--name=d_utc", "--width=24h", "--zone=UTC"}, code: 0},
		{args: []string{"projection", "list", "--json"}, code: 0, json: projectionsAre("d_utc/24h0m0s/UTC", "q15/15m0s/device")},
		{args: []string{"projection", "list"}, code: 0, stdout: []string{"NAME", "q15", "(device's own)"}},
		{args: []string{"projection", "remove", "--name", "q15"}, code: 2, stderr: []string{"removes bucket projection q15", "add --yes"}},
		{args: []string{"projection", "list", "--json"}, code: 0, json: projectionsAre("d_utc/24h0m0s/UTC", "q15/15m0s/device")},
		{args: []string{"projection", "remove", "-name=q15", "-y"}, code: 0, stdout: []string{"bucket projection q15 removed"}},
		{args: []string{"projection", "remove", "--name", "q15", "--yes"}, code: 1, stderr: []string{`no bucket projection "q15"`}},
		{args: []string{"projection", "list", "--json"}, code: 0, json: projectionsAre("d_utc/24h0m0s/UTC")},
		// Partitioned projection: the share count changes by a whole
		// rebuild; one share rebuilds alone.
		{args: []string{"rebuild", "--shares", "300", "--yes"}, code: 2, stderr: []string{"--shares 300: want 1 to 256"}},
		{args: []string{"rebuild", "-share", "1", "--yes"}, code: 2, stderr: []string{"--share 1: the read models' share count is 1 (shares 0 to 0)"}},
		{args: []string{"rebuild", "-shares", "2"}, code: 2, stderr: []string{"the projection then runs as 2 shares (now 1): restart its projectors with FLEETPULSE_PROJECTOR_SHARES=2"}},
		{args: []string{"rebuild", "-shares", "2", "--yes"}, code: 0, stdout: []string{"rebuilt read models in 2 shares from 3 events"}},
		{args: []string{"status", "--json"}, code: 0, json: func(t *testing.T, out []byte) {
			var sts []statusJSON
			if err := json.Unmarshal(out, &sts); err != nil || len(sts) != 3 {
				t.Fatalf("status --json = %s (%v), want the read models and their 2 shares", out, err)
			}
			if s := sts[0]; s.Projection != "read_models" || s.Shares != 2 || s.EventsApplied != 3 || s.Behind == nil || *s.Behind != 0 {
				t.Errorf("status %+v, want read_models of 2 shares with 3 events applied, 0 behind", s)
			}
			if sts[1].Projection != "read_models/share-0-of-2" || sts[2].Projection != "read_models/share-1-of-2" || sts[1].EventsApplied+sts[2].EventsApplied != 3 {
				t.Errorf("share rows %+v, %+v; want shares 0 and 1 of 2 applying the 3 events between them", sts[1], sts[2])
			}
		}},
		{args: []string{"status"}, code: 0, stdout: []string{"read_models (slowest of 2 shares)", "read_models/share-1-of-2"}},
		{args: []string{"rebuild", "--share", "1", "--shares", "4", "--yes"}, code: 2, stderr: []string{"the read models' share count is 2"}},
		{args: []string{"rebuild", "--share", "1"}, code: 2, stderr: []string{"rebuilds the read models of share 1 of 2", "add --yes"}},
		{args: []string{"rebuild", "--shares", "1", "--yes"}, code: 0, stdout: []string{"rebuilt read models from 3 events"}},
		{args: []string{"status"}, code: 0, stdout: []string{"read_models "}},
		{args: []string{"migrate"}, code: 0, stdout: []string{"newest version"}},
		// Archiving: needs an archive, asks, then moves the two
		// measurements (applied by every projection) out of PostgreSQL.
		{args: []string{"archive", "--yes"}, code: 1, stderr: []string{"set FLEETPULSE_ARCHIVE_URL"}},
		{args: []string{"archive"}, env: archived, code: 2, stderr: []string{"moves the telemetry events recorded more than 1ms ago", "add --yes"}},
		{args: []string{"status"}, env: archived, code: 0, stdout: []string{"ARCHIVE: nothing archived; 3 events in PostgreSQL"}},
		{args: []string{"archive", "--yes"}, env: archived, code: 0, stdout: []string{"archived 2 events (2 items) into 1 files"}},
		{args: []string{"archive", "--yes"}, env: archived, code: 0, stdout: []string{"archived 0 events"}},
		{args: []string{"status"}, env: archived, code: 0, stdout: []string{"ARCHIVE: 1 files, 2 events (2 items)", "1 events in PostgreSQL", "ARCHIVED FROM"}},
		{args: []string{"rebuild", "--yes"}, env: archived, code: 0, stdout: []string{"rebuilt read models from 3 events"}},
		{args: []string{"rebuild", "--yes"}, code: 1, stderr: []string{"no archive is configured (FLEETPULSE_ARCHIVE_URL)"}},
	}
	runSteps(t, pgURL, steps)
}

// runSteps runs steps in order on the database at pgURL.
func runSteps(t *testing.T, pgURL string, steps []step) {
	t.Helper()
	for _, s := range steps {
		name := "fleetpulse " + strings.Join(s.args, " ")
		env := map[string]string{"FLEETPULSE_PG_URL": pgURL}
		for k, v := range s.env {
			env[k] = v
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), s.args, cli{stdin: strings.NewReader(s.stdin), stdout: &stdout, stderr: &stderr,
			getenv: func(k string) string { return env[k] }, terminal: s.terminal})
		if code != s.code {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", name, code, s.code, stdout.String(), stderr.String())
			continue
		}
		for _, want := range s.stdout {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%s: stdout lacks %q:\n%s", name, want, stdout.String())
			}
		}
		for _, want := range s.stderr {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("%s: stderr lacks %q:\n%s", name, want, stderr.String())
			}
		}
		if s.json != nil {
			s.json(t, stdout.Bytes())
		}
		if strings.Contains(stderr.String(), "s3cretpw") {
			t.Errorf("%s: stderr shows the password: %s", name, stderr.String())
		}
		if code == 0 {
			continue
		}
		// An error is one line, last on stderr, naming the command; never
		// a JSON log line.
		// (On a terminal, the answer typed after the prompt ends its line.)
		text := strings.ReplaceAll(stderr.String(), "[y/N] ", "[y/N] "+s.stdin)
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		last := lines[len(lines)-1]
		if i := strings.LastIndex(last, "\r"); i >= 0 { // after a progress bar
			last = last[i+1:]
		}
		if !strings.HasPrefix(last, "fleetpulse") || strings.HasPrefix(strings.TrimSpace(stderr.String()), "{") {
			t.Errorf("%s: the error is not one plain line ending stderr:\n%s", name, stderr.String())
		}
	}
}

func TestLongFlagsWithTwoDashes_OnlyLongFlagsOfTheTreeBeforeADoubleDash(t *testing.T) {
	root := newRoot(&cli{})
	got := longFlagsWithTwoDashes(root, []string{"dev", "-backfill", "72h", "-step=10m", "-h", "-y", "-bogus", "--interval", "2s", "--", "-name"})
	want := []string{"dev", "--backfill", "72h", "--step=10m", "-h", "-y", "-bogus", "--interval", "2s", "--", "-name"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCLI_ImportRecordsAFileOnceAndNamesItsBadRows(t *testing.T) {
	t.Parallel()
	pool, pgURL := pgtest.NewDatabase(t)
	seedLog(t, pool) // registers st-1
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "history.csv")
	csv := "station,type,value,measured_at\n" +
		"st-1,pm25,1.5,2025-06-01T10:00:00Z\n" +
		"st-1,pm25,n/a,2025-06-01T10:01:00Z\n" +
		"st-1,pm25,2.5,2025-06-01T10:02:00Z\n" +
		"st-1,pm25,3.5,2025-06-01T10:03:00Z\n"
	if err := os.WriteFile(csvPath, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	txtPath := filepath.Join(dir, "history.txt")
	if err := os.WriteFile(txtPath, []byte(`{"station": "st-1", "type": "pm25", "value": 9, "measured_at": "2025-06-02T00:00:00Z"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	summary := func(rows, accepted, duplicates, rejected int64) func(*testing.T, []byte) {
		return func(t *testing.T, out []byte) {
			var s importSummary
			if err := json.Unmarshal(out, &s); err != nil {
				t.Fatalf("import --json = %s: %v", out, err)
			}
			if !s.Complete || s.Rows != rows || s.Accepted != accepted || s.Duplicates != duplicates || s.Rejected != rejected || s.NextLine != 6 {
				t.Fatalf("summary %+v, want %d rows: %d accepted, %d duplicates, %d rejected, next line 6", s, rows, accepted, duplicates, rejected)
			}
			if rejected > 0 && (len(s.Rejections) != 1 || s.Rejections[0].Line != 3 || !strings.Contains(s.Rejections[0].Reason, "n/a")) {
				t.Fatalf("rejections %+v, want line 3", s.Rejections)
			}
		}
	}
	runSteps(t, pgURL, []step{
		{args: []string{"import"}, code: 2, stderr: []string{"import takes one file"}},
		{args: []string{"import", txtPath}, code: 2, stderr: []string{"history.txt", "--format"}},
		{args: []string{"import", "--format", "xml", txtPath}, code: 2, stderr: []string{"--format", "xml"}},
		{args: []string{"import", filepath.Join(dir, "missing.csv")}, code: 1, stderr: []string{"missing.csv"}},
		{args: []string{"import", "--json", csvPath}, code: 0, json: summary(4, 3, 0, 1)},
		// Again: nothing stored twice.
		{args: []string{"import", csvPath}, code: 0, stdout: []string{"4 rows", "0 accepted, 3 duplicates, 1 rejected", "line 3: value"}},
		{args: []string{"import", "--json", "--from-line", "4", csvPath}, code: 0, json: summary(2, 0, 2, 0)},
		{args: []string{"import", "--format", "ndjson", txtPath}, code: 0, stdout: []string{"1 rows", "1 accepted"}},
	})
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM telemetry_item_keys`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d item keys stored (%v), want the 4 imported rows once each", n, err)
	}
}
