// Package natsfeed publishes the public event feed on NATS JetStream: each
// integration event (domain.Integration) of the log goes to the subject
// "<prefix>.events.<type>.<device>" of a stream it creates, with its log
// position as the message id (Nats-Msg-Id), so JetStream drops a
// redelivered event within the stream's duplicate window, and in the
// Fleetpulse-Position header, so a subscriber detects duplicates and
// resumes by position. The caller (infra/service, through infra/forwarder)
// publishes in log order, one acknowledged publish at a time, and moves
// its checkpoint after the acknowledgement: at least once, in order per
// device.
package natsfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Headers of a published event, beside Nats-Msg-Id.
const (
	HeaderPosition = "Fleetpulse-Position"
	HeaderType     = "Fleetpulse-Event-Type"
	HeaderSchema   = "Fleetpulse-Schema-Version"
)

// DefaultDuplicateWindow is how long JetStream remembers message ids: a
// redelivery within it is dropped by the server.
const DefaultDuplicateWindow = 2 * time.Minute

// Config says where to publish.
type Config struct {
	URL    string // NATS server(s), comma-separated
	Prefix string // first subject token; letters, digits, '_' and '-'
	// Stream is the JetStream stream holding "<prefix>.events.>"; default
	// the prefix in upper case with "_EVENTS" appended.
	Stream string
	// DuplicateWindow: default DefaultDuplicateWindow.
	DuplicateWindow time.Duration
	// Replicas of the stream when it is created (default 1).
	Replicas int
}

// publishTimeout bounds one publish (and the stream's creation) when the
// caller's context has no deadline of its own.
const publishTimeout = 10 * time.Second

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Publisher publishes integration events on JetStream.
type Publisher struct {
	conn   *nats.Conn
	js     nats.JetStreamContext
	prefix string
	stream *nats.StreamConfig
	logger *slog.Logger

	mu          sync.Mutex
	streamReady bool
}

// Open connects (a server not reachable yet is tried again in the
// background: the first Publish fails meanwhile, and its caller retries).
// The stream is made, if missing, by the first Publish.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Publisher, error) {
	if !prefixPattern.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("feed NATS prefix %q: letters, digits, '_' and '-' only", cfg.Prefix)
	}
	if cfg.Stream == "" {
		cfg.Stream = StreamName(cfg.Prefix)
	}
	if cfg.DuplicateWindow <= 0 {
		cfg.DuplicateWindow = DefaultDuplicateWindow
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	conn, err := nats.Connect(cfg.URL, nats.Name("fleetpulse-feed"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS for the event feed: %w", err)
	}
	js, err := conn.JetStream()
	if err != nil {
		conn.Close()
		return nil, err
	}
	sc := &nats.StreamConfig{Name: cfg.Stream, Subjects: []string{cfg.Prefix + ".events.>"},
		Storage: nats.FileStorage, Duplicates: cfg.DuplicateWindow, Replicas: cfg.Replicas}
	return &Publisher{conn: conn, js: js, prefix: cfg.Prefix, stream: sc, logger: logger}, nil
}

// ensureStream makes the stream unless it was made or found before.
func (p *Publisher) ensureStream(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.streamReady {
		return nil
	}
	if _, err := p.js.AddStream(p.stream, nats.Context(ctx)); err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create the event feed stream %s: %w", p.stream.Name, err)
	}
	p.streamReady = true
	return nil
}

// Close closes the connection.
func (p *Publisher) Close() { p.conn.Close() }

// StreamName is the default stream of a prefix: the prefix in upper case,
// '-' made '_', with "_EVENTS" appended.
func StreamName(prefix string) string {
	return strings.ToUpper(strings.ReplaceAll(prefix, "-", "_")) + "_EVENTS"
}

// Subject is where an event of a type and device is published.
func Subject(prefix, eventType, deviceID string) string {
	return prefix + ".events." + eventType + "." + deviceID
}

// Publish publishes r's integration event and returns once JetStream has
// stored it (or dropped it as a duplicate); an event that is not published
// (domain.Integration) returns nil at once.
func (p *Publisher) Publish(ctx context.Context, r domain.RecordedEvent) error {
	e, ok, err := domain.Integration(r)
	if err != nil {
		// It can never be published; holding the feed back for it would
		// stop every device's events.
		p.logger.Error("event feed: event skipped: it does not decode", "event", r.ID, "position", r.Position, "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	msg, err := Message(p.prefix, e)
	if err != nil {
		return err
	}
	// Bounded, so that a publish never hangs the feed on a lost reply.
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := p.ensureStream(ctx); err != nil {
		return err
	}
	if _, err := p.js.PublishMsg(msg, nats.Context(ctx)); err != nil {
		return fmt.Errorf("publish %s at %s: %w", e.Type, e.Position, err)
	}
	return nil
}

// Message is the NATS message of an integration event.
func Message(prefix string, e domain.IntegrationEvent) (*nats.Msg, error) {
	msg := nats.NewMsg(Subject(prefix, e.Type, e.DeviceID))
	msg.Data = e.AppendJSON(nil)
	msg.Header.Set(nats.MsgIdHdr, e.Position)
	msg.Header.Set(HeaderPosition, e.Position)
	msg.Header.Set(HeaderType, e.Type)
	msg.Header.Set(HeaderSchema, strconv.Itoa(e.SchemaVersion))
	return msg, nil
}
