package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerIgnore reads .dockerignore with the parser and matcher the Docker
// builder itself uses.
func dockerIgnore(t *testing.T, root string) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func ignored(t *testing.T, pm *patternmatcher.PatternMatcher, path string) bool {
	t.Helper()
	out, err := pm.MatchesOrParentMatches(filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// buildInputs lists, relative to root, the files `go build ./cmd/...`
// reads: go.mod, go.sum, and the Go files and embedded files of every
// package of the module the binaries depend on.
func buildInputs(t *testing.T, root string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,IgnoredGoFiles,EmbedFiles", "./cmd/...")
	cmd.Dir = root
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	inputs := map[string]bool{"go.mod": true, "go.sum": true}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p struct {
			Dir                                 string
			Module                              *struct{ Path string }
			GoFiles, IgnoredGoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/fleetpulse/fleetpulse" {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		// Files for other build tags or systems too: the image's build
		// uses -tags timetzdata.
		for _, f := range slices.Concat(p.GoFiles, p.IgnoredGoFiles, p.EmbedFiles) {
			if !strings.HasSuffix(f, "_test.go") {
				inputs[filepath.ToSlash(filepath.Join(rel, f))] = true
			}
		}
	}
	if len(inputs) < 10 {
		t.Fatalf("go list found only %v", inputs)
	}
	return inputs
}

// trackedFiles lists the files git tracks, relative to root.
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("git ls-files (this check needs a git checkout): %v", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files
}

// TestDockerignore_TheBuildContextHoldsWhatTheBuildReadsAndNothingElse
// checks .dockerignore with Docker's own matcher against the files of the
// repository: every file the image's `go build` reads (per `go list`) goes
// into the build context, and every other file git tracks stays out, as
// do the build outputs, secrets and tool folders that git ignores.
func TestDockerignore_TheBuildContextHoldsWhatTheBuildReadsAndNothingElse(t *testing.T) {
	root := repoRoot(t)
	pm := dockerIgnore(t, root)
	inputs := buildInputs(t, root)
	for in := range inputs {
		if ignored(t, pm, in) {
			t.Errorf("the build reads %s, but .dockerignore leaves it out", in)
		}
	}
	for _, f := range trackedFiles(t, root) {
		// A Go file of a package the binaries do not import (a test helper)
		// is harmless in the context; any other file the build does not
		// read must stay out.
		harmless := strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") && !strings.Contains(f, "/testdata/")
		if !inputs[f] && !harmless && !ignored(t, pm, f) {
			t.Errorf("%s is not read by the build but .dockerignore lets it into the context", f)
		}
	}
	// What git ignores, but a working tree holds.
	outputs := []string{".git/HEAD", ".env", "bin/fleetpulse", "soak-results/run-1/report.json", "infra/postgres/postgres.test",
		"cpu.prof", "readapi/dashboard/node_modules/uplot/package.json", "readapi/dashboard/node_modules/esbuild/lib/main.go",
		"readapi/dashboard/e2e/artifacts/01-dashboard-1-day.png"}
	for _, name := range mainPackages(t, root) {
		outputs = append(outputs, name) // `go build ./cmd/x` at the root writes ./x
	}
	for _, o := range outputs {
		if !ignored(t, pm, o) {
			t.Errorf("%s would go into the build context", o)
		}
	}
}

// No build output is committed: no tracked file is an executable binary
// (ELF, Mach-O or PE), whatever its name.
func TestRepository_CommitsNoBinary(t *testing.T) {
	root := repoRoot(t)
	magics := [][]byte{{0x7f, 'E', 'L', 'F'}, {0xcf, 0xfa, 0xed, 0xfe}, {0xfe, 0xed, 0xfa, 0xcf}, {'M', 'Z'}}
	for _, f := range trackedFiles(t, root) {
		fh, err := os.Open(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the working tree
		}
		head := make([]byte, 4)
		n, _ := fh.Read(head)
		fh.Close()
		for _, m := range magics {
			if n >= len(m) && bytes.Equal(head[:len(m)], m) {
				t.Errorf("%s is a committed binary: delete it and let .gitignore keep build outputs out", f)
			}
		}
	}
}

// The files .dockerignore keeps out, git must not lose: .env is ignored by
// git too (it holds the secrets), .env.example is committed.
func TestGitignore_IgnoresTheEnvFileButNotItsExample(t *testing.T) {
	root := repoRoot(t)
	for _, c := range []struct {
		path    string
		ignored bool
	}{
		{".env", true}, {".env.example", false}, {"bin/fleetpulse", true}, {"projector", true},
		{"cmd/loadgen/loadgen", true}, {"cmd/loadgen/main.go", false}, {"cmd/loadgen/internal/promtext/promtext.go", false},
	} {
		cmd := exec.Command("git", "check-ignore", "-q", c.path)
		cmd.Dir = root
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
			t.Skipf("git check-ignore (this check needs a git checkout): %v", err)
		}
		if gitIgnores := err == nil; gitIgnores != c.ignored {
			t.Errorf("git ignores %s: %v, want %v", c.path, gitIgnores, c.ignored)
		}
	}
}
