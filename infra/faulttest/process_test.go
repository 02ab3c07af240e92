package faulttest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const adminToken = "faulttest-admin-token"

// process is one lifetime of a fleetpulse binary running as a subprocess.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	exited  chan struct{} // closed once the process has been reaped
	state   *os.ProcessState
}

// processSpec is how to start one kind of process: the binary, its listen
// address variable and the environment every lifetime shares.
type processSpec struct {
	name    string
	binary  string
	addrVar string // FLEETPULSE_COMMAND_ADDR, FLEETPULSE_PROJECTOR_ADDR, ...
	addr    string // 127.0.0.1:<port>, the same for every lifetime
	env     map[string]string
}

// newSpec returns a spec for binary on a free 127.0.0.1 port against pgURL,
// with settings that keep the tests quick (short timeouts, no rate limit
// in the way of a test's burst); extra overrides them.
func newSpec(t *testing.T, name, binary, addrVar, pgURL string, extra map[string]string) *processSpec {
	t.Helper()
	env := map[string]string{
		"FLEETPULSE_PG_URL":           pgURL,
		"FLEETPULSE_PG_MAX_CONNS":     "8",
		"FLEETPULSE_EVENT_STORE":      "postgres",
		"FLEETPULSE_ADMIN_TOKEN":      adminToken,
		"FLEETPULSE_REQUEST_TIMEOUT":  "5s",
		"FLEETPULSE_SHUTDOWN_TIMEOUT": "5s",
		"FLEETPULSE_POLL_INTERVAL":    "50ms",
		"FLEETPULSE_DEVICE_RATE":      "100000",
		"FLEETPULSE_DEVICE_BURST":     "100000",
		"FLEETPULSE_LOG_LEVEL":        "info",
		// Every listener of every binary stays on loopback, on a port of ours.
		"FLEETPULSE_COMMAND_ADDR":   freeAddr(t),
		"FLEETPULSE_READ_ADDR":      freeAddr(t),
		"FLEETPULSE_PROJECTOR_ADDR": freeAddr(t),
	}
	for k, v := range extra {
		env[k] = v
	}
	return &processSpec{name: name, binary: binary, addrVar: addrVar, addr: env[addrVar], env: env}
}

func commandAPISpec(t *testing.T, pgURL string, extra map[string]string) *processSpec {
	t.Helper()
	return newSpec(t, "command-api", binaries.commandAPI, "FLEETPULSE_COMMAND_ADDR", pgURL, extra)
}

func projectorSpec(t *testing.T, pgURL string, extra map[string]string) *processSpec {
	t.Helper()
	return newSpec(t, "projector", binaries.projector, "FLEETPULSE_PROJECTOR_ADDR", pgURL, extra)
}

func readAPISpec(t *testing.T, pgURL string, extra map[string]string) *processSpec {
	t.Helper()
	return newSpec(t, "read-api", binaries.readAPI, "FLEETPULSE_READ_ADDR", pgURL, extra)
}

func (s *processSpec) url() string { return "http://" + s.addr }

// freeAddr returns a 127.0.0.1 address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// processLogs remembers every lifetime a test started, to print the tail of
// their logs when it fails.
var processLogs sync.Map // *testing.T -> *[]*process

// start runs one lifetime of the process. It is killed when the test ends
// if it is still running (before the test's database is dropped: cleanups
// run last-registered first, and databases are made before processes).
func (s *processSpec) start(t *testing.T) *process {
	t.Helper()
	return s.startWith(t)
}

// startWith is start with command-line arguments.
func (s *processSpec) startWith(t *testing.T, args ...string) *process {
	t.Helper()
	env := make([]string, 0, len(os.Environ())+len(s.env))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLEETPULSE_") {
			env = append(env, kv)
		}
	}
	for k, v := range s.env {
		env = append(env, k+"="+v)
	}
	logs, _ := processLogs.LoadOrStore(t, &[]*process{})
	list := logs.(*[]*process)
	logPath := filepath.Join(logDir(t), fmt.Sprintf("%02d-%s.log", len(*list)+1, s.name))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.binary, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start %s: %v", s.name, err)
	}
	p := &process{name: s.name, cmd: cmd, logPath: logPath, started: time.Now(), exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		_ = logFile.Close()
		close(p.exited)
	}()
	*list = append(*list, p)
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() && p == (*list)[len(*list)-1] {
			dumpLogs(t, *list)
		}
	})
	return p
}

var logDirs sync.Map // *testing.T -> string

func logDir(t *testing.T) string {
	t.Helper()
	if d, ok := logDirs.Load(t); ok {
		return d.(string)
	}
	d := t.TempDir()
	logDirs.Store(t, d)
	t.Cleanup(func() { logDirs.Delete(t); processLogs.Delete(t) })
	return d
}

// dumpLogs prints the end of the last few lifetimes' logs.
func dumpLogs(t *testing.T, list []*process) {
	t.Helper()
	from := max(0, len(list)-4)
	for _, p := range list[from:] {
		t.Logf("--- last lines of %s:\n%s", filepath.Base(p.logPath), p.logTail(15))
	}
}

func (p *process) logTail(n int) string {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (if the process still runs) and waits until it is gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("%s (pid %d) still runs 10s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// terminate sends SIGTERM and waits up to within for the process to exit,
// returning its exit code and how long it took; -1 if it did not exit.
func (p *process) terminate(t *testing.T, within time.Duration) (code int, took time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
		return p.state.ExitCode(), time.Since(start)
	case <-time.After(within):
		return -1, time.Since(start)
	}
}

// waitReady polls GET <base>/readyz until it answers 200, failing the test
// if the process exits or within passes first.
func (p *process) waitReady(t *testing.T, base string, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	last := "no answer"
	for time.Now().Before(deadline) {
		if !p.running() {
			t.Fatalf("%s exited with %v before it was ready; its log ends:\n%s", p.name, p.state, p.logTail(10))
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(15 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %s (last: %s); its log ends:\n%s", p.name, within, last, p.logTail(10))
}

// startReady starts a lifetime and waits for its /readyz.
func (s *processSpec) startReady(t *testing.T) *process {
	t.Helper()
	p := s.start(t)
	p.waitReady(t, s.url(), 20*time.Second)
	return p
}
