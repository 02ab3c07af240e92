package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// TestHandlers_ACommandWhoseCallerStoppedWaitingStoresNothing: the caller's
// context bounds every handler, so a command sent with a context already
// cancelled (the caller gave up, or its deadline passed) fails with that
// cause and stores nothing.
func TestHandlers_ACommandWhoseCallerStoppedWaitingStoresNothing(t *testing.T) {
	for _, w := range writes() {
		t.Run(w.handler+" on "+w.own, func(t *testing.T) {
			f := newFixture(t)
			ctx, cancel := context.WithTimeout(f.ctx, -time.Second)
			defer cancel()
			err := f.refused(context.DeadlineExceeded, func() (commands.Outcome, error) { return w.send(f, ctx, operator) })
			if code := domain.Code(err); code != domain.CodeUnavailable {
				t.Fatalf("code %q, want %q (the caller is told to retry)", code, domain.CodeUnavailable)
			}
		})
	}
}
