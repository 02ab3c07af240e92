// Command loadgen measures fleetpulse's performance targets against a
// system running on this machine. It only ever talks to loopback addresses
// (127.0.0.0/8, ::1, localhost, or a local PostgreSQL socket) and every run
// ends by itself after -duration.
//
// Modes:
//
//	loadgen ingest          register stations, post measurement batches from many
//	                        goroutines (at -rate, or as fast as possible), and
//	                        report throughput, HTTP latency, errors by status,
//	                        projection lag (probe measurements timed until the
//	                        read API shows them), CPU and RSS of -pids
//	loadgen soak            ingest held at -rate (say half of peak) for 30
//	                        minutes unless -duration says otherwise, reported
//	                        every -report-every (throughput, errors, latency,
//	                        lag, RSS) and judged at the end against limits on
//	                        errors, achieved rate, lag, catch-up and memory
//	                        growth; exits 1 when a limit is broken
//	loadgen read            -clients dashboard clients reading the 365-day daily
//	                        view and one day of raw points; client-side latency
//	                        next to the read API's own histogram (scraped from
//	                        /metrics before and after)
//	loadgen seed            give one station a year of 1-minute data (525,600
//	                        measurements) through the command API
//	loadgen append-baseline one event per transaction against a throwaway
//	                        database, next to batched appends
//	loadgen query-baseline  the 365-day view computed from raw rows at query
//	                        time next to the daily read model (and one day of
//	                        raw points), timed over -runs runs
//
// Every mode prints a summary table; -json FILE also writes it as JSON
// ("-" for standard output). -cpuprofile FILE profiles loadgen itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const usage = `usage: loadgen <mode> [flags]

modes: ingest, soak, read, seed, append-baseline, query-baseline
"loadgen <mode> -h" lists a mode's flags.
`

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	mode, args := os.Args[1], os.Args[2:]
	run, ok := modes[mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown mode %q\n%s", mode, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, args); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

var modes = map[string]func(context.Context, []string) error{
	"ingest":          runIngest,
	"soak":            runSoak,
	"read":            runRead,
	"seed":            runSeed,
	"append-baseline": runAppendBaseline,
	"query-baseline":  runQueryBaseline,
}

// common holds the flags every mode has.
type common struct {
	duration   time.Duration
	jsonOut    string
	cpuprofile string
}

func (c *common) register(fs *flag.FlagSet, defDuration time.Duration) {
	fs.DurationVar(&c.duration, "duration", defDuration, "upper bound on the run's length")
	fs.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file (- for stdout)")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of loadgen itself to this file")
}

// start bounds ctx by -duration (plus grace for set-up and drain) and starts
// the CPU profile; the returned func stops both.
func (c *common) start(ctx context.Context, grace time.Duration) (context.Context, func(), error) {
	if c.duration <= 0 {
		return nil, nil, errors.New("-duration must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, c.duration+grace)
	stopProfile := func() {}
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			cancel()
			f.Close()
			return nil, nil, err
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
	}
	return ctx, func() { stopProfile(); cancel() }, nil
}

// --- loopback only -----------------------------------------------------------

// checkLoopbackURL refuses any HTTP URL whose host is not a loopback address.
func checkLoopbackURL(flagName, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-%s %q: want an http URL like http://127.0.0.1:8080", flagName, raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return "", fmt.Errorf("-%s %q: loadgen only targets loopback addresses (127.0.0.0/8, ::1, localhost)", flagName, raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkLoopbackPG refuses a PostgreSQL URL that points anywhere but this
// machine (a loopback address or a local Unix socket).
func checkLoopbackPG(flagName, raw string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", flagName, err)
	}
	hosts := []string{cfg.Host}
	for _, fb := range cfg.Fallbacks {
		hosts = append(hosts, fb.Host)
	}
	for _, h := range hosts {
		if !strings.HasPrefix(h, "/") && !isLoopbackHost(h) {
			return nil, fmt.Errorf("-%s: host %q: loadgen only targets loopback addresses or a local socket", flagName, h)
		}
	}
	return cfg, nil
}

func parsePIDs(s string) ([]int, error) {
	var pids []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := strconv.Atoi(f)
		if err != nil || p <= 0 {
			return nil, fmt.Errorf("-pids: %q is not a process id", f)
		}
		pids = append(pids, p)
	}
	return pids, nil
}
