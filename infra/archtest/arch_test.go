package archtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/fleetpulse/fleetpulse"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func isStd(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }

func TestArchitecture_ImportsPointInward(t *testing.T) {
	rules := []struct {
		prefix string
		// allowed says whether a direct import is fine.
		allowed func(imp string) bool
		// forbiddenDeps are never allowed anywhere in the dependency graph.
		forbiddenDeps []string
	}{
		{"domain", isStd, nil},
		{"commands", func(imp string) bool {
			return isStd(imp) || imp == module+"/domain" || imp == "github.com/google/uuid"
		}, nil},
		{"projections", func(imp string) bool { return isStd(imp) || imp == module+"/domain" }, nil},
		// The read API reads through its Store port: the PostgreSQL adapter
		// (infra/postgres/readmodel) depends on it, never the other way, and
		// no database driver reaches its handlers.
		{"readapi", func(string) bool { return true }, []string{
			module + "/commands", module + "/infra/postgres", module + "/infra/esdb", module + "/infra/bus",
			"github.com/EventStore/EventStore-Client-Go", "github.com/ThreeDotsLabs/watermill", "github.com/jackc/pgx",
		}},
		// The event log and the read models share PostgreSQL plumbing only.
		{"infra/postgres/eventstore", func(string) bool { return true }, []string{module + "/infra/postgres/readmodel"}},
		{"infra/postgres/readmodel", func(string) bool { return true }, []string{
			module + "/infra/postgres/eventstore", module + "/infra/esdb", module + "/commands",
		}},
	}
	pkgs := listPackages(t)
	for _, r := range rules {
		matched := false
		for _, p := range pkgs {
			rel := strings.TrimPrefix(p.ImportPath, module+"/")
			if rel != r.prefix && !strings.HasPrefix(rel, r.prefix+"/") {
				continue
			}
			matched = true
			for _, imp := range p.Imports {
				if !r.allowed(imp) {
					t.Errorf("%s imports %s", p.ImportPath, imp)
				}
			}
			for _, dep := range p.Deps {
				for _, f := range r.forbiddenDeps {
					if dep == f || strings.HasPrefix(dep, f+"/") {
						t.Errorf("%s depends on %s", p.ImportPath, dep)
					}
				}
			}
		}
		if !matched {
			t.Errorf("no package under %s", r.prefix)
		}
	}
}

// infraRoles sorts every package under infra/ by what it is, so that the
// sideways rule below knows who may import whom. A new package must be
// given a role here.
var infraRoles = map[string]string{
	// Adapters: each reaches one technology and serves the core's ports.
	"bus": "adapter", "commandapi": "adapter", "esdb": "adapter", "forwarder": "adapter",
	"mqttbridge": "adapter", "memstore": "adapter", "postgres/eventstore": "adapter",
	"postgres/readmodel": "adapter", "postgres/readmodel/rawchunk": "adapter", "postgres/importjobs": "adapter",
	"postgres/webhookstore": "adapter", "webhook": "adapter",
	"archive":  "adapter",
	"natsfeed": "adapter",
	// Plumbing any adapter may share: connecting and migrating PostgreSQL,
	// HTTP helpers, the wire format of telemetry, configuration, retries,
	// metrics and the Watermill logger.
	"postgres": "plumbing", "httpx": "plumbing", "wire": "plumbing", "config": "plumbing",
	"config/redact": "plumbing", "retry": "plumbing", "metrics": "plumbing", "wmlog": "plumbing",
	// The bulk importer: import files read and sent as commands, the job runner.
	"importer": "plumbing",
	// Wiring: processes put together from adapters.
	"service": "wiring", "alerting": "wiring",
	// Tests, test kits and the device simulator.
	"archtest": "test", "bustest": "test", "eventstoretest": "test", "faulttest": "test",
	"httpx/httpxtest": "test", "httpx/openapitest": "test", "metrics/metricstest": "test",
	"postgres/pgtest": "test", "devicesim": "test", "deploy": "test", "webhooktest": "test",
	"archive/archivetest": "test", "archive/duckdbtest": "test",
}

// TestArchitecture_NoSidewaysAdapters checks that no adapter under infra/
// imports another adapter: they meet only through the core's ports, in the
// wiring. An adapter may import its own sub-packages and shared plumbing;
// plumbing imports only plumbing.
func TestArchitecture_NoSidewaysAdapters(t *testing.T) {
	prefix := module + "/infra/"
	for _, p := range listPackages(t) {
		rel, ok := strings.CutPrefix(p.ImportPath, prefix)
		if !ok {
			continue
		}
		role, known := infraRoles[rel]
		if !known {
			t.Errorf("infra/%s has no role in infraRoles (adapter, plumbing, wiring or test)", rel)
			continue
		}
		if role == "wiring" || role == "test" {
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, prefix)
			if !ok || strings.HasPrefix(dep, rel+"/") {
				continue
			}
			if depRole := infraRoles[dep]; depRole != "plumbing" {
				t.Errorf("%s (%s) imports infra/%s (%s): adapters meet through ports, in the wiring", p.ImportPath, role, dep, depRole)
			}
		}
	}
}
