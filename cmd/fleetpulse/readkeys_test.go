package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestCLI_ReadKeys creates, lists and revokes read keys through the CLI
// on one database: the key is printed once and parses to its id, a scope
// names known devices only, the list (after the log is projected) shows
// the keys and never a key or hash, and revocation asks for --yes.
func TestCLI_ReadKeys(t *testing.T) {
	pool, pgURL := pgtest.NewDatabase(t)
	seedLog(t, pool) // station st-1
	fleetpulse := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, cli{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr,
			getenv: func(k string) string { return map[string]string{"FLEETPULSE_PG_URL": pgURL}[k] }})
		return code, stdout.String(), stderr.String()
	}
	want := func(code int, stdout, stderr string, wantCode int, wantText string) {
		t.Helper()
		if code != wantCode || !strings.Contains(stdout+stderr, wantText) {
			t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, wantCode, wantText, stdout, stderr)
		}
	}

	code, out, errOut := fleetpulse("", "read-key", "create")
	want(code, out, errOut, 2, "--name is required")
	code, out, errOut = fleetpulse("", "read-key", "create", "--name", "typo", "--device", "st-9")
	want(code, out, errOut, 1, "device not found")

	code, out, errOut = fleetpulse("", "read-key", "create", "--name", "depot", "--device", "st-1", "--json")
	want(code, out, errOut, 0, `"key"`)
	var scoped readKeyJSON
	if err := json.Unmarshal([]byte(out), &scoped); err != nil {
		t.Fatal(err)
	}
	if id, ok := domain.ParseReadKey(scoped.Key); !ok || id != scoped.ID || strings.Join(scoped.Devices, ",") != "st-1" {
		t.Fatalf("created %+v: the key does not carry its id, or the scope is lost", scoped)
	}
	code, out, errOut = fleetpulse("", "read-key", "create", "--name", "wall screen")
	want(code, out, errOut, 0, "only time the key is shown")

	// The list is the read model: project the log first.
	code, out, errOut = fleetpulse("", "rebuild", "--yes")
	want(code, out, errOut, 0, "rebuilt read models")
	code, out, errOut = fleetpulse("", "read-key", "list")
	want(code, out, errOut, 0, "(every device)")
	if !strings.Contains(out, scoped.ID) || strings.Contains(out, scoped.Key) {
		t.Fatalf("list shows no id or shows a key:\n%s", out)
	}

	code, out, errOut = fleetpulse("", "read-key", "revoke", "--id", scoped.ID)
	want(code, out, errOut, 2, "add --yes")
	code, out, errOut = fleetpulse("", "read-key", "revoke", "--id", scoped.ID, "--yes")
	want(code, out, errOut, 0, "revoked")
	code, out, errOut = fleetpulse("", "read-key", "revoke", "--id", "no-such-key", "--yes")
	want(code, out, errOut, 1, "read key not found")

	code, out, errOut = fleetpulse("", "rebuild", "--yes")
	want(code, out, errOut, 0, "rebuilt read models")
	code, out, errOut = fleetpulse("", "read-key", "list", "--json")
	want(code, out, errOut, 0, scoped.ID)
	var keys []readKeyJSON
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("list --json = %s (%v), want 2 keys", out, err)
	}
	for _, k := range keys {
		if (k.ID == scoped.ID) != (k.RevokedAt != nil) || k.Key != "" {
			t.Fatalf("key %+v: want only %s revoked, and no key shown", k, scoped.ID)
		}
	}
}
