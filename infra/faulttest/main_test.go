package faulttest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// binaries are the real process binaries, built once per package run.
var binaries struct {
	commandAPI, projector, readAPI string
}

// seed makes a run's random choices (kill moments, data) repeatable:
// FLEETPULSE_FAULT_SEED=<n> replays a logged run.
var seed uint64

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("FLEETPULSE_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "faulttest: FLEETPULSE_FAULT_SEED=%q is not a number\n", s)
			return 2
		}
		seed = v
	}
	dir, err := os.MkdirTemp("", "fleetpulse-faulttest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	if err := buildBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		return 2
	}
	binaries.commandAPI = filepath.Join(dir, "command-api")
	binaries.projector = filepath.Join(dir, "projector")
	binaries.readAPI = filepath.Join(dir, "read-api")
	return m.Run()
}

// buildBinaries builds the three process binaries into dir from the
// repository root (the directory holding go.mod).
func buildBinaries(dir string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	start := time.Now()
	cmd := exec.Command(goTool, "build", "-o", dir+string(filepath.Separator), "./cmd/command-api", "./cmd/projector", "./cmd/read-api")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build of the process binaries failed: %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "faulttest: built command-api, projector and read-api in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// newRand returns the test's random source, derived from the run's seed and
// the test's name so tests do not share a sequence.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	var h uint64 = 14695981039346656037
	for _, c := range []byte(t.Name()) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	t.Logf("random seed %d (rerun with FLEETPULSE_FAULT_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, h))
}
