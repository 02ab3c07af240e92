package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file is the flags more than one mode has and their checks: loadgen
// refuses any address that is not on this machine.

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

const defaultReadURL = "http://127.0.0.1:8081"

// apiFlags are the flags of the modes that write through the command API and
// watch the result in the read API.
type apiFlags struct {
	url, readURL, admin, readKey string
}

func (a *apiFlags) register(fs *flag.FlagSet, readURLUsage string) {
	fs.StringVar(&a.url, "url", "http://127.0.0.1:8080", "command API base URL (loopback only)")
	fs.StringVar(&a.readURL, "read-url", defaultReadURL, readURLUsage)
	fs.StringVar(&a.admin, "admin-token", os.Getenv("FLEETPULSE_ADMIN_TOKEN"), "operator token (default $FLEETPULSE_ADMIN_TOKEN)")
	fs.StringVar(&a.readKey, "read-key", os.Getenv("FLEETPULSE_READ_KEY"), "read API key (default $FLEETPULSE_READ_KEY; else the admin token, which the read API accepts)")
}

// readAuth is what the modes send the read API: the read key, or the
// operator's token.
func (a *apiFlags) readAuth() string { return cmp.Or(a.readKey, a.admin) }

func (a *apiFlags) check() error {
	var err error
	if a.url, err = checkLoopbackURL("url", a.url); err != nil {
		return err
	}
	if a.readURL, err = checkLoopbackURL("read-url", a.readURL); err != nil {
		return err
	}
	if a.admin == "" {
		return errors.New("-admin-token is required")
	}
	return nil
}

// dayFlags are the days the read and query-baseline modes look at: the
// 365-day view ending with -to, and one UTC day of raw points.
type dayFlags struct {
	to, day string
}

// viewDays is the length of the dashboard's long view.
const viewDays = 365

func (d *dayFlags) register(fs *flag.FlagSet, toUsage, dayUsage string) {
	fs.StringVar(&d.to, "to", "", toUsage)
	fs.StringVar(&d.day, "day", "", dayUsage)
}

// parse returns the first and last day of the view and the raw day: by
// default the view ends today and the raw day is yesterday (UTC).
func (d *dayFlags) parse() (from, to, day time.Time, err error) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	to, day = today, today.AddDate(0, 0, -1)
	if d.day != "" {
		if day, err = time.Parse(time.DateOnly, d.day); err != nil {
			return from, to, day, fmt.Errorf("-day: %w", err)
		}
	}
	if d.to != "" {
		if to, err = time.Parse(time.DateOnly, d.to); err != nil {
			return from, to, day, fmt.Errorf("-to: %w", err)
		}
	}
	return to.AddDate(0, 0, 1-viewDays), to, day, nil
}
