package bus

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
)

// deadlineKey carries the caller's deadline with a command. A caller that
// gave up has already answered its client (503: retry), so the handler must
// not go on storing, or start storing, what that client will send again.
// Across processes this relies on the hosts' clocks agreeing (NTP).
const deadlineKey = "fleetpulse_deadline"

// stampDeadline is the command bus's OnSend: it copies the caller's
// deadline, if any, into the message.
func stampDeadline(p cqrs.CommandBusOnSendParams) error {
	if d, ok := p.Message.Context().Deadline(); ok {
		p.Message.Metadata.Set(deadlineKey, d.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// handleWithinDeadline is the command processor's OnHandle: the handler runs
// under the caller's deadline. The message's context carries what the
// request-reply handler needs to answer, so it is the parent.
func handleWithinDeadline(p cqrs.CommandProcessorOnHandleParams) error {
	ctx := p.Message.Context()
	if d, err := time.Parse(time.RFC3339Nano, p.Message.Metadata.Get(deadlineKey)); err == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	return p.Handler.Handle(ctx, p.Command)
}
