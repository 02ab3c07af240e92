// Package bus carries commands from the APIs to their handlers over
// Watermill's CQRS command bus, and carries each handler's outcome back to
// the caller (Watermill's request-reply component), so an HTTP client learns
// whether its data was stored, was a duplicate, or was refused.
package bus

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/components/requestreply"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/wmlog"
)

// CommandBus sends commands and waits for their outcomes.
type CommandBus struct {
	bus     *cqrs.CommandBus
	backend requestreply.Backend[commands.Outcome]
	router  *message.Router
	pubsub  *gochannel.GoChannel
	done    chan struct{}
	// closeBroker, if set, disconnects a distributed bus from its broker.
	closeBroker func() error
}

// commandTopic gives every command type a topic of its own: a processor
// acks commands of other types it finds on a shared topic, losing them.
// Underscores, not dots: NATS stream names cannot hold dots.
func commandTopic(commandName string) string { return "commands_" + commandName }

func replyTopic(op requestreply.OperationID) string { return "replies_" + string(op) }

// NewInProcess wires app's handlers behind an in-process (Go channel) bus and
// starts routing. Close stops it after in-flight commands are handled.
func NewInProcess(app commands.Application, logger *slog.Logger, replyTimeout time.Duration, opts ...Option) (*CommandBus, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	wmLogger := wmlog.New(logger, "command-bus")
	// Without BlockPublishUntilSubscriberAck a Go channel may reorder
	// commands; callers wait for each reply, so a device's sequential
	// requests keep their order, and concurrent ones have none to keep.
	pubsub := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 256}, wmLogger)

	marshaler := cqrs.JSONMarshaler{GenerateName: cqrs.StructName}
	backend, err := localReplyBackend(pubsub, replyTimeout, wmLogger)
	if err != nil {
		return nil, fmt.Errorf("request-reply backend: %w", err)
	}

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, wmLogger)
	if err != nil {
		return nil, err
	}
	processor, err := cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return commandTopic(p.CommandName), nil
		},
		SubscriberConstructor: func(cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return pubsub, nil
		},
		OnHandle:  handleWithinDeadline,
		Marshaler: marshaler,
		Logger:    wmLogger,
	})
	if err != nil {
		return nil, fmt.Errorf("command processor: %w", err)
	}
	if err := processor.AddHandlers(Handlers(app, backend, logger, o.metrics)...); err != nil {
		return nil, err
	}
	commandBus, err := cqrs.NewCommandBusWithConfig(pubsub, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return commandTopic(p.CommandName), nil
		},
		OnSend:    stampDeadline,
		Marshaler: marshaler,
		Logger:    wmLogger,
	})
	if err != nil {
		return nil, fmt.Errorf("command bus: %w", err)
	}

	b := &CommandBus{bus: commandBus, backend: backend, router: router, pubsub: pubsub, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		if err := router.Run(context.Background()); err != nil {
			logger.Error("command router stopped", "err", err)
		}
	}()
	<-router.Running()
	return b, nil
}

// localReplyBackend carries outcomes to callers in this process over ps, one
// topic per operation (nobody subscribed means nobody waits). Every outcome,
// failures included, goes back to the caller: a nack on a Go channel would
// redeliver the command forever.
func localReplyBackend(ps *gochannel.GoChannel, replyTimeout time.Duration, wmLogger watermill.LoggerAdapter) (requestreply.Backend[commands.Outcome], error) {
	return requestreply.NewPubSubBackend(requestreply.PubSubBackendConfig{
		Publisher: ps,
		SubscriberConstructor: func(requestreply.PubSubBackendSubscribeParams) (message.Subscriber, error) {
			return ps, nil
		},
		GeneratePublishTopic: func(p requestreply.PubSubBackendPublishParams) (string, error) {
			return replyTopic(p.OperationID), nil
		},
		GenerateSubscribeTopic: func(p requestreply.PubSubBackendSubscribeParams) (string, error) {
			return replyTopic(p.OperationID), nil
		},
		Logger:                wmLogger,
		ListenForReplyTimeout: &replyTimeout,
		AckCommandErrors:      true,
	}, requestreply.BackendPubsubJSONMarshaler[commands.Outcome]{})
}

// Handlers wraps every handler of app for the bus, one per command type,
// counted on m (nil: not counted).
func Handlers(app commands.Application, backend requestreply.Backend[commands.Outcome], logger *slog.Logger, m *Metrics) []cqrs.CommandHandler {
	h := handlerFactory{backend: backend, logger: logger, metrics: m}
	return []cqrs.CommandHandler{
		handler(h, "RegisterStation", app.RegisterStation.Handle),
		handler(h, "UpdateStation", app.UpdateStation.Handle),
		handler(h, "DecommissionStation", app.DecommissionStation.Handle),
		handler(h, "RecordMeasurements", app.RecordMeasurements.Handle),
		handler(h, "RegisterVehicle", app.RegisterVehicle.Handle),
		handler(h, "UpdateVehicle", app.UpdateVehicle.Handle),
		handler(h, "DecommissionVehicle", app.DecommissionVehicle.Handle),
		handler(h, "RecordVehicleEvents", app.RecordVehicleEvents.Handle),
		handler(h, "RotateDeviceToken", app.RotateDeviceToken.Handle),
		handler(h, "RevokeDeviceToken", app.RevokeDeviceToken.Handle),
		handler(h, "CorrectMeasurement", app.CorrectMeasurement.Handle),
		handler(h, "RetractMeasurement", app.RetractMeasurement.Handle),
		handler(h, "SetAlertRule", app.SetAlertRule.Handle),
		handler(h, "CreateReadKey", app.CreateReadKey.Handle),
		handler(h, "RevokeReadKey", app.RevokeReadKey.Handle),
		handler(h, "RegisterWebhook", app.RegisterWebhook.Handle),
		handler(h, "RemoveWebhook", app.RemoveWebhook.Handle),
		handler(h, "EnableWebhook", app.EnableWebhook.Handle),
	}
}

// handler adapts a command handler to the bus: its error travels back inside
// the outcome (as a domain code), and a panic becomes an internal error
// rather than a nack that would redeliver the command forever.
func handler[C any](h handlerFactory, name string, handle func(context.Context, *C) (commands.Outcome, error)) cqrs.CommandHandler {
	logger := h.logger
	h.metrics.known(name)
	return requestreply.NewCommandHandlerWithResult(name, h.backend, func(ctx context.Context, cmd *C) (out commands.Outcome, _ error) {
		var failure error
		done := h.metrics.start(name)
		defer func() {
			if r := recover(); r != nil {
				logger.Error("command handler panicked", "handler", name, "panic", r, "stack", string(debug.Stack()))
				failure = fmt.Errorf("%s: internal error", name)
				out = commands.Failed(failure)
			}
			done(failure)
		}()
		// ctx carries the caller's deadline (handleWithinDeadline): a command
		// whose caller stopped waiting fails at its first store call.
		out, err := handle(ctx, cmd)
		if err != nil {
			if domain.Code(err) == domain.CodeInternal || domain.Code(err) == domain.CodeUnavailable {
				logger.Error("command failed", "handler", name, "err", err)
			}
			failure = err
			return commands.Failed(err), nil
		}
		return out, nil
	})
}

// handlerFactory is what every wrapped handler shares.
type handlerFactory struct {
	backend requestreply.Backend[commands.Outcome]
	logger  *slog.Logger
	metrics *Metrics
}

// Dispatch sends cmd and waits for its handler's outcome; a refused command
// comes back as an error wrapping its domain sentinel.
func (b *CommandBus) Dispatch(ctx context.Context, cmd any) (commands.Outcome, error) {
	reply, err := requestreply.SendWithReply[commands.Outcome](ctx, b.bus, b.backend, cmd)
	if err != nil {
		return commands.Outcome{}, fmt.Errorf("dispatch %T: %w: %w", cmd, domain.ErrUnavailable, err)
	}
	if reply.Error != nil && reply.HandlerResult.ErrCode == "" {
		return commands.Outcome{}, fmt.Errorf("dispatch %T: %w: %w", cmd, domain.ErrUnavailable, reply.Error)
	}
	if err := reply.HandlerResult.Err(); err != nil {
		return commands.Outcome{}, err
	}
	return reply.HandlerResult, nil
}

// Close stops taking commands and waits for the ones being handled.
func (b *CommandBus) Close() error {
	err := b.router.Close()
	<-b.done
	if cerr := b.pubsub.Close(); err == nil {
		err = cerr
	}
	if b.closeBroker != nil {
		if cerr := b.closeBroker(); err == nil {
			err = cerr
		}
	}
	return err
}
