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
//	loadgen storage         post realistic station or vehicle history through
//	                        the command API and report the bytes each item
//	                        costs at rest per table (indexes and TOAST
//	                        included) and in WAL
//	loadgen serve-bytes     serve the read API's answers to -copy URLs as fixed
//	                        bytes: the ceiling wrk compares the read API with
//	loadgen live            open -subscribers live push streams over an ingest
//	                        run's stations and time commit -> delivery; the
//	                        read API's RSS per subscriber
//
// Every mode prints a summary table; -json FILE also writes it as JSON
// ("-" for standard output). -cpuprofile FILE profiles loadgen itself.
//
// Each mode has its own file (ingest.go with ingest_load.go, probe.go and
// intervals.go; soak.go, read.go, seed.go, append_baseline.go,
// query_baseline.go, storage.go, serve_bytes.go, live.go). What they share: flags.go (flags and the loopback
// checks), client.go (HTTP, failed-request tally, tickers), fleet.go
// (stations and measurement batches) and report.go (percentiles, tables,
// JSON); internal/procstat reads /proc and internal/promtext reads /metrics.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage: loadgen <mode> [flags]

modes: ingest, soak, read, seed, append-baseline, query-baseline, storage, serve-bytes, live
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
	"storage":         runStorage,
	"serve-bytes":     runServeBytes,
	"live":            runLive,
}
