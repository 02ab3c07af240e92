package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/components/requestreply"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/infra/wmlog"
)

// Distributed command bus
//
// With a broker between them, command API processes (senders) and handler
// workers run as separate processes, any number of each:
//
//   - every command type has a topic of its own, <prefix>_commands_<Type>;
//     all workers of a deployment share each topic as a work queue (a
//     JetStream durable queue consumer; a PostgreSQL queue table read with
//     SKIP LOCKED), so each command is handled by one worker, and
//     redelivered to another if its worker dies before acking;
//   - every sender process has a reply topic of its own,
//     <prefix>_replies_<process id>, named in the command's metadata
//     (replyToKey). The worker publishes the handler's outcome there
//     (requestreply.PubSubBackend.GeneratePublishTopic reads that metadata),
//     and ONE subscriber per sender process fans replies out to the waiting
//     callers by operation id through an in-memory Go channel. A reply for
//     an operation nobody waits for any more (the caller timed out, or the
//     command was redelivered and handled twice) finds no subscriber and is
//     dropped. One subscription per process, not per request: a per-request
//     subscription costs a JetStream consumer or a polling loop on
//     PostgreSQL per HTTP request.
//
// Ordering and duplicates. Workers handle commands concurrently and a
// redelivered command may overtake later ones, so the bus keeps no order of
// its own. A device's order comes from its caller, which waits for each reply
// before it sends the next request; concurrent requests have no order to
// keep. A command handled twice (its worker died after appending, before
// acking) is absorbed by the event store's idempotency: telemetry event ids
// are derived from (device, client id), so a measurement sent with a client
// id is reported as a duplicate, never stored twice; registrations append
// with NoStream, device changes with an expected version. Telemetry sent
// WITHOUT client ids gets fresh ids on each delivery and may be stored twice
// after a worker crash: devices that need exactly-once send ids.

// replyToKey is the command metadata naming the sender's reply topic.
const replyToKey = "fleetpulse_reply_to"

// Config selects and configures a distributed command bus.
type Config struct {
	Backend      string // "nats" or "postgres"
	NATSURL      string // nats: server URL, or a comma-separated list of a cluster's nodes
	Pool         *pgxpool.Pool
	Prefix       string        // prefix of every topic, stream and table
	AckWait      time.Duration // a command not acked within it is redelivered
	ReplyTimeout time.Duration // how long a sender waits for an outcome
	Concurrency  int           // nats: commands a worker handles at once per type
	Replicas     int           // nats: copies JetStream keeps of each stream it creates (1 to 5)
	Metrics      *Metrics      // counts a worker's commands; nil: not counted
}

func (c Config) commandTopic(name string) string { return c.Prefix + "_" + commandTopic(name) }
func (c Config) poisonTopic() string             { return c.Prefix + "_commands_poison" }
func (c Config) replyTopic(process string) string {
	return c.Prefix + "_replies_" + process
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "fleetpulse"
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	return c
}

// senderEnds is what a sender needs from a broker.
type senderEnds struct {
	commands   message.Publisher
	replies    message.Subscriber
	replyTopic string
	close      func() error
}

// workerEnds is what a worker needs from a broker.
type workerEnds struct {
	commands message.Subscriber
	replies  message.Publisher
	poison   message.Publisher
	// replyGone says a reply cannot be published because its sender is gone.
	replyGone func(error) bool
	close     func() error
}

func wmLoggerFor(logger *slog.Logger, component string) watermill.LoggerAdapter {
	return wmlog.New(logger, component)
}

// NewSender connects to the configured broker and returns a command bus
// that only sends: the handlers run in workers (NewWorker).
func NewSender(ctx context.Context, cfg Config, logger *slog.Logger) (*CommandBus, error) {
	cfg = cfg.withDefaults()
	wmLogger := wmLoggerFor(logger, "command-bus")
	process := uuid.NewString()[:8]
	var (
		ends senderEnds
		err  error
	)
	switch cfg.Backend {
	case "nats":
		ends, err = natsSender(ctx, cfg, process, wmLogger)
	case "postgres":
		ends, err = postgresSender(ctx, cfg, process, wmLogger)
	default:
		err = fmt.Errorf("command bus %q is not distributed", cfg.Backend)
	}
	if err != nil {
		return nil, err
	}
	b, err := newSender(cfg, ends, wmLogger, logger)
	if err != nil {
		_ = ends.close()
		return nil, err
	}
	return b, nil
}

func newSender(cfg Config, ends senderEnds, wmLogger watermill.LoggerAdapter, logger *slog.Logger) (*CommandBus, error) {
	// Replies fan out to the callers through an in-memory channel, one
	// topic per operation; nobody subscribed means nobody waits.
	local := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1}, watermill.NopLogger{})
	backend, err := localReplyBackend(local, cfg.ReplyTimeout, wmLogger)
	if err != nil {
		return nil, fmt.Errorf("request-reply backend: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, wmLogger)
	if err != nil {
		return nil, err
	}
	router.AddNoPublisherHandler("replies", ends.replyTopic, ends.replies, func(msg *message.Message) error {
		op := msg.Metadata.Get(requestreply.OperationIDMetadataKey)
		if op == "" {
			logger.Warn("reply without an operation id dropped", "uuid", msg.UUID)
			return nil
		}
		return local.Publish(replyTopic(requestreply.OperationID(op)), msg.Copy())
	})
	commandBus, err := cqrs.NewCommandBusWithConfig(ends.commands, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return cfg.commandTopic(p.CommandName), nil
		},
		OnSend: func(p cqrs.CommandBusOnSendParams) error {
			p.Message.Metadata.Set(replyToKey, ends.replyTopic)
			return stampDeadline(p)
		},
		Marshaler: cqrs.JSONMarshaler{GenerateName: cqrs.StructName},
		Logger:    wmLogger,
	})
	if err != nil {
		return nil, fmt.Errorf("command bus: %w", err)
	}
	b := &CommandBus{bus: commandBus, backend: backend, router: router, pubsub: local, done: make(chan struct{}), closeBroker: ends.close}
	go func() {
		defer close(b.done)
		if err := router.Run(context.Background()); err != nil {
			logger.Error("reply router stopped", "err", err)
		}
	}()
	<-router.Running()
	return b, nil
}

// Worker runs command handlers for commands that arrive over a broker.
type Worker struct {
	router *message.Router
	done   chan struct{}
	close  func() error
}

// NewWorker connects to the configured broker and starts handling commands
// with app's handlers. Close stops it after the commands being handled.
func NewWorker(ctx context.Context, app commands.Application, cfg Config, logger *slog.Logger) (*Worker, error) {
	cfg = cfg.withDefaults()
	wmLogger := wmLoggerFor(logger, "command-worker")
	var (
		ends workerEnds
		err  error
	)
	switch cfg.Backend {
	case "nats":
		ends, err = natsWorker(ctx, cfg, wmLogger)
	case "postgres":
		ends, err = postgresWorker(ctx, cfg, wmLogger)
	default:
		err = fmt.Errorf("command bus %q is not distributed", cfg.Backend)
	}
	if err != nil {
		return nil, err
	}
	w, err := newWorker(app, cfg, ends, wmLogger, logger)
	if err != nil {
		_ = ends.close()
		return nil, err
	}
	return w, nil
}

func newWorker(app commands.Application, cfg Config, ends workerEnds, wmLogger watermill.LoggerAdapter, logger *slog.Logger) (*Worker, error) {
	backend, err := requestreply.NewPubSubBackend(requestreply.PubSubBackendConfig{
		Publisher: ends.replies,
		SubscriberConstructor: func(requestreply.PubSubBackendSubscribeParams) (message.Subscriber, error) {
			return nil, errors.New("a worker waits for no replies")
		},
		// The sender named its reply topic in the command's metadata.
		GeneratePublishTopic: func(p requestreply.PubSubBackendPublishParams) (string, error) {
			if to := p.CommandMessage.Metadata.Get(replyToKey); to != "" {
				return to, nil
			}
			return "", fmt.Errorf("command %s names no reply topic (%s)", p.CommandMessage.UUID, replyToKey)
		},
		GenerateSubscribeTopic: func(p requestreply.PubSubBackendSubscribeParams) (string, error) {
			return "", errors.New("a worker waits for no replies")
		},
		Logger: wmLogger,
		// Every outcome, failures included, goes back to the caller: a
		// refused command is handled, not retried.
		AckCommandErrors: true,
		ReplyPublishErrorHandler: func(topic string, _ *message.Message, err error) error {
			if ends.replyGone != nil && ends.replyGone(err) {
				logger.Debug("reply dropped: its sender is gone", "topic", topic)
				return nil
			}
			return err
		},
	}, requestreply.BackendPubsubJSONMarshaler[commands.Outcome]{})
	if err != nil {
		return nil, fmt.Errorf("request-reply backend: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, wmLogger)
	if err != nil {
		return nil, err
	}
	// Order matters, outermost first: a command that still fails after its
	// retries (a reply that cannot be published, a command that cannot be
	// decoded) goes to the poison topic with the reason in its metadata
	// (middleware.ReasonForPoisonedKey) instead of blocking its topic.
	poison, err := middleware.PoisonQueue(cfg.Metrics.countPoisoned(ends.poison), cfg.poisonTopic())
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(
		middleware.CorrelationID,
		poison,
		middleware.Retry{
			MaxRetries: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: 2 * time.Second,
			Multiplier: 2, Logger: wmLogger,
		}.Middleware,
		middleware.Recoverer,
	)
	processor, err := cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return cfg.commandTopic(p.CommandName), nil
		},
		SubscriberConstructor: func(cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return ends.commands, nil
		},
		OnHandle:  handleWithinDeadline,
		Marshaler: cqrs.JSONMarshaler{GenerateName: cqrs.StructName},
		Logger:    wmLogger,
	})
	if err != nil {
		return nil, fmt.Errorf("command processor: %w", err)
	}
	if err := processor.AddHandlers(Handlers(app, backend, logger, cfg.Metrics)...); err != nil {
		return nil, err
	}
	w := &Worker{router: router, done: make(chan struct{}), close: ends.close}
	go func() {
		defer close(w.done)
		if err := router.Run(context.Background()); err != nil {
			logger.Error("command worker stopped", "err", err)
		}
	}()
	select {
	case <-router.Running():
	case <-w.done:
		_ = ends.close()
		return nil, errors.New("command worker could not start")
	}
	return w, nil
}

// Close stops taking commands, waits for the ones being handled (their
// outcomes are sent), and disconnects from the broker.
func (w *Worker) Close() error {
	err := w.router.Close()
	<-w.done
	if cerr := w.close(); err == nil {
		err = cerr
	}
	return err
}
