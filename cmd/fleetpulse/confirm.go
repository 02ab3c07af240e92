package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// errNotConfirmed: the person at the terminal did not say yes.
var errNotConfirmed = errors.New("not confirmed; nothing was done")

// addYes gives a destructive command its --yes flag.
func addYes(cmd *cobra.Command, yes *bool) {
	cmd.Flags().BoolVarP(yes, "yes", "y", false, "do it without asking (needed when stdin is not a terminal)")
}

// confirm says what cmd is about to do, then goes on if yes was given or
// the person at the terminal agrees. Without a terminal and without --yes,
// it refuses: a script must say --yes.
func (c *cli) confirm(cmd *cobra.Command, yes bool, what string) error {
	fmt.Fprintf(c.stderr, "%s: %s\n", cmd.CommandPath(), what)
	if yes {
		return nil
	}
	if !c.terminal {
		return usagef("stdin is not a terminal: add --yes to confirm")
	}
	fmt.Fprint(c.stderr, "Go on? [y/N] ")
	answer, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && answer == "" {
		return errNotConfirmed
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}
