// Command fleetpulse is the operator CLI:
//
//	fleetpulse dev       run the command API, projector and read API in one
//	                     process on local PostgreSQL, with simulated devices
//	fleetpulse migrate   bring the PostgreSQL schema to the newest version
//	fleetpulse simulate  play simulated devices against a running command API
//	fleetpulse rebuild   rebuild the read models from the whole log into new
//	                     tables while the old ones serve, then swap them in
//	fleetpulse status    show each projection's checkpoint and lag
//	fleetpulse projection add|list|remove
//	                     manage extra bucket projections (e.g. 15 minutes,
//	                     or days in another zone); add fills one from history
//	fleetpulse import    record a CSV or NDJSON file of historical measurements
//	                     through the command handlers, in large batches
//
// Configuration comes from FLEETPULSE_* environment variables (`fleetpulse
// help` lists them); each command takes flags (`fleetpulse <command> -h`).
// -h and --help only print help. An unknown flag, argument or command exits
// 2 without doing anything; so does a destructive command (rebuild,
// projection remove) run without --yes when stdin is not a terminal; on a
// terminal it asks. Errors are one line on stderr naming the setting or flag
// to fix; the work's own failures exit 1.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], cli{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		terminal: term.IsTerminal(int(os.Stdin.Fd())),
	})
	stop()
	os.Exit(code)
}

// cli is what every command shares: where it reads and writes, the
// environment, and whether stdin is a person at a terminal (destructive
// commands then ask rather than need --yes).
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	terminal       bool
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the work failed, or was not confirmed
	exitUsage = 2 // a flag, argument, command or setting to fix; nothing was done
)

// usageError is a mistake in how fleetpulse was called or configured:
// nothing was done, and the message says what to change.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run executes the command line args and returns the process's exit code.
func run(ctx context.Context, args []string, c cli) int {
	root := newRoot(&c)
	root.SetArgs(longFlagsWithTwoDashes(root, args))
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code, hint := exitError, ""
	var usage usageError
	if errors.As(err, &usage) {
		code, hint = exitUsage, fmt.Sprintf(" (see %s --help)", cmd.CommandPath())
	}
	// One line, whatever the error wraps.
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintf(c.stderr, "%s: %s%s\n", cmd.CommandPath(), msg, hint)
	return code
}

// longFlagsWithTwoDashes keeps the single-dash long flags of earlier
// versions working (`-backfill 72h`, `-name=q15`): pflag reads a single dash
// as shorthand letters, so each argument before "--" that names a long flag
// of the command tree after one dash gets a second one.
func longFlagsWithTwoDashes(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, len(args))
	for i, a := range args {
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 && long[name] {
			a = "-" + a
		}
		out[i] = a
	}
	return out
}
