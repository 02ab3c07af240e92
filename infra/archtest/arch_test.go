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
