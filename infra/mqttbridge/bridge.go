// Package mqttbridge lets devices write through MQTT: it subscribes to the
// devices' topics on a broker, authenticates and decodes each message with
// the HTTP command API's own rules (infra/wire), sends the same commands
// through a wire.Dispatcher, and publishes each outcome to the device's
// results topic.
//
// Topics (MQTT 3.1.1, QoS 1):
//
//	<root>/<device id>/measurements  body {"token", "request_id"?, "measurements": [...]}
//	<root>/<device id>/events        body {"token", "request_id"?, "events": [...]}
//	<root>/<device id>/results       the outcome, in the HTTP API's JSON shapes
//
// where <root> is Config.TopicRoot, "fleetpulse" by default.
//
// MQTT 3.1.1 has no per-message properties, so the device token travels in the
// JSON envelope: one shared bridge connection serves every device.
//
// Delivery is at least once. A message is acknowledged once its outcome is
// final: stored, duplicate, or refused (unauthenticated, forbidden, invalid),
// so a bad message is never redelivered forever. A transient failure
// (domain.ErrUnavailable, a timeout) is not acknowledged: the bridge retries
// it with backoff, and if it stops first the broker redelivers the message
// to the bridge's persistent session when it reconnects. Event ids that
// devices send make such redeliveries duplicates rather than second copies.
package mqttbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/config/redact"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/retry"
	"github.com/fleetpulse/fleetpulse/infra/wire"
)

// DefaultTopicRoot is the first level of every fleetpulse topic unless
// Config.TopicRoot says otherwise.
const DefaultTopicRoot = "fleetpulse"

// Config holds the bridge's broker connection and limits.
type Config struct {
	// URL of the broker, such as tcp://127.0.0.1:1883.
	URL string
	// ClientID names the bridge's session; it must be unique among running
	// bridges and stable across restarts, so unacknowledged messages come back.
	ClientID string
	// TopicRoot is the first level of the devices' topics (default
	// "fleetpulse"); deployments sharing one broker each take their own.
	TopicRoot string
	// ShareGroup, if set, subscribes as the shared subscription
	// $share/<ShareGroup>/...: the bridges of one group split the messages.
	ShareGroup string
	// CleanSession drops the session when the bridge disconnects (tests);
	// false keeps subscriptions and unacknowledged messages at the broker.
	CleanSession bool
	// AdminToken is the operator token (operators may not send telemetry,
	// but the token is recognised like the HTTP API does).
	AdminToken string
	// MaxPayloadBytes bounds a message body, like the HTTP body limit.
	MaxPayloadBytes int64
	// DispatchTimeout bounds one attempt to send a command.
	DispatchTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts after a
	// transient failure.
	RetryMin, RetryMax time.Duration
	// Metrics, if set, counts the bridge's messages.
	Metrics *Metrics
}

func (c *Config) defaults() {
	if c.TopicRoot == "" {
		c.TopicRoot = DefaultTopicRoot
	}
	if c.MaxPayloadBytes <= 0 {
		c.MaxPayloadBytes = 1 << 20
	}
	if c.DispatchTimeout <= 0 {
		c.DispatchTimeout = 10 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 200 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = 10 * time.Second
	}
}

// Bridge carries device messages from a broker to the command handlers.
type Bridge struct {
	dispatch wire.Dispatcher
	cfg      Config
	broker   string // cfg.URL without its password
	logger   *slog.Logger

	ready     chan struct{}
	readyOnce sync.Once

	mu       sync.Mutex
	stopping bool
	inflight sync.WaitGroup
	// stopped ends, with errStopping as its cause, when Run's context ends:
	// retries give up.
	stopped context.Context
	stop    context.CancelCauseFunc
}

// New returns a bridge sending commands through d; Run connects it.
func New(d wire.Dispatcher, cfg Config, logger *slog.Logger) *Bridge {
	cfg.defaults()
	stopped, stop := context.WithCancelCause(context.Background())
	return &Bridge{dispatch: d, cfg: cfg, broker: redact.URL(cfg.URL), logger: logger, ready: make(chan struct{}),
		stopped: stopped, stop: stop}
}

// Broker is the broker's URL without its password, for logs and errors.
func (b *Bridge) Broker() string { return b.broker }

// Ready is closed once the bridge has subscribed for the first time.
func (b *Bridge) Ready() <-chan struct{} { return b.ready }

// Filters are the subscriptions the bridge makes.
func (b *Bridge) Filters() []string {
	prefix := ""
	if b.cfg.ShareGroup != "" {
		prefix = "$share/" + b.cfg.ShareGroup + "/"
	}
	return []string{prefix + b.cfg.TopicRoot + "/+/measurements", prefix + b.cfg.TopicRoot + "/+/events"}
}

// Run connects to the broker (retrying until it answers), handles messages
// until ctx ends, then lets in-flight messages finish and disconnects. A
// bridge runs once.
func (b *Bridge) Run(ctx context.Context) error {
	opts := mqtt.NewClientOptions().
		AddBroker(b.cfg.URL).
		SetClientID(b.cfg.ClientID).
		SetCleanSession(b.cfg.CleanSession).
		SetAutoAckDisabled(true).
		SetOrderMatters(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		SetKeepAlive(30 * time.Second).
		// A persistent session may hand over messages before the
		// subscriptions are made again: the default handler takes them.
		SetDefaultPublishHandler(b.onMessage).
		SetOnConnectHandler(b.subscribe).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.logger.Warn("mqtt connection lost; reconnecting", "err", err)
		}).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			b.logger.Debug("mqtt reconnecting", "url", b.broker)
		})
	client := mqtt.NewClient(opts)
	tok := client.Connect()
	slow := time.NewTimer(5 * time.Second)
	defer slow.Stop()
wait:
	for {
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				return fmt.Errorf("mqtt connect %s: %w", b.broker, err)
			}
			break wait
		case <-slow.C:
			b.logger.Warn("mqtt broker not reachable yet; still trying", "url", b.broker)
		case <-ctx.Done():
			break wait
		}
	}
	<-ctx.Done()

	// Messages arriving from now on are left unacknowledged: the broker
	// hands them over again on the next connection.
	b.mu.Lock()
	b.stopping = true
	b.stop(errStopping)
	b.mu.Unlock()
	b.inflight.Wait()
	client.Disconnect(250)
	return nil
}

func (b *Bridge) subscribe(c mqtt.Client) {
	filters := map[string]byte{}
	for _, f := range b.Filters() {
		filters[f] = 1
	}
	tok := c.SubscribeMultiple(filters, b.onMessage)
	// The connect handler must not block the client: wait elsewhere.
	go func() {
		tok.Wait()
		if err := tok.Error(); err != nil {
			b.logger.Error("mqtt subscribe failed", "filters", b.Filters(), "err", err)
			return
		}
		if st, ok := tok.(*mqtt.SubscribeToken); ok {
			for f, code := range st.Result() {
				if code == 0x80 { // SUBACK failure
					b.logger.Error("mqtt broker refused the subscription (check its ACLs)", "filter", f)
					return
				}
			}
		}
		b.logger.Info("mqtt bridge subscribed", "url", b.broker, "filters", b.Filters())
		b.readyOnce.Do(func() { close(b.ready) })
	}()
}

// onMessage runs in a goroutine of its own per message (order does not
// matter: a batch carries its own timestamps).
func (b *Bridge) onMessage(c mqtt.Client, m mqtt.Message) {
	b.mu.Lock()
	if b.stopping {
		b.mu.Unlock()
		return
	}
	b.inflight.Add(1)
	b.mu.Unlock()
	defer b.inflight.Done()

	metrics := b.cfg.Metrics
	device, kind, ok := parseTopic(b.cfg.TopicRoot, m.Topic())
	if !ok {
		// Not ours (a filter would not match it): drop it for good.
		metrics.receivedOne("other")
		m.Ack()
		metrics.ackedOne("other")
		return
	}
	metrics.receivedOne(kind)
	result, final := b.handle(device, kind, m.Payload())
	if !final {
		return // transient and stopping: the broker redelivers
	}
	if e, ok := result.(ErrorResult); ok {
		b.logger.Debug("mqtt message refused", "topic", m.Topic(), "code", e.Error.Code, "reason", e.Error.Message)
		metrics.refusedOne(kind, e.Error.Code)
	}
	// The result is best effort: a device that misses it can send again.
	payload, _ := json.Marshal(result)
	c.Publish(ResultsTopic(b.cfg.TopicRoot, device), 1, false, payload)
	m.Ack()
	metrics.ackedOne(kind)
}

// ResultsTopic is where a device reads the outcome of its messages.
func ResultsTopic(root, device string) string { return root + "/" + device + "/results" }

func parseTopic(root, topic string) (device, kind string, ok bool) {
	parts := strings.Split(topic, "/")
	if len(parts) != 3 || parts[0] != root || (parts[2] != "measurements" && parts[2] != "events") {
		return "", "", false
	}
	return parts[1], parts[2], true
}

type measurementsMessage struct {
	Token        string               `json:"token"`
	RequestID    string               `json:"request_id,omitempty"`
	Measurements []domain.Measurement `json:"measurements"`
}

type eventsMessage struct {
	Token     string                `json:"token"`
	RequestID string                `json:"request_id,omitempty"`
	Events    []domain.VehicleEvent `json:"events"`
}

// message is what a device publishes: its token, a request id to echo, and
// the batch of the HTTP route its topic stands for.
type message struct {
	token, requestID string
	batch            wire.Telemetry
}

// decodeMessage reads the payload of a topic of kind as strictly as the
// HTTP API reads a body.
func decodeMessage(kind string, payload []byte) (message, error) {
	if kind == "measurements" {
		var m measurementsMessage
		err := wire.Decode(bytes.NewReader(payload), &m)
		return message{m.Token, m.RequestID, wire.Measurements(m.Measurements)}, err
	}
	var m eventsMessage
	err := wire.Decode(bytes.NewReader(payload), &m)
	return message{m.Token, m.RequestID, wire.VehicleEvents(m.Events)}, err
}

// MeasurementsResult is published for an accepted measurements message.
type MeasurementsResult struct {
	RequestID  string `json:"request_id,omitempty"`
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
}

// EventsResult is published for an accepted vehicle events message.
type EventsResult struct {
	RequestID  string   `json:"request_id,omitempty"`
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	EIDs       []string `json:"eids"`
}

// ErrorResult is published for a refused message: the HTTP API's error shape.
type ErrorResult struct {
	RequestID string            `json:"request_id,omitempty"`
	Error     httpx.ErrorDetail `json:"error"`
}

// handle decodes and dispatches one message. final is false only when a
// transient failure outlived the bridge: the message must not be acked.
func (b *Bridge) handle(device, kind string, payload []byte) (result any, final bool) {
	if int64(len(payload)) > b.cfg.MaxPayloadBytes {
		return ErrorResult{Error: httpx.ErrorDetail{Code: wire.CodeTooLarge,
			Message: fmt.Sprintf("the message is larger than %d bytes; send smaller batches", b.cfg.MaxPayloadBytes)}}, true
	}
	msg, err := decodeMessage(kind, payload)
	if err != nil {
		// The HTTP API's words: which value, and the form it must have.
		return ErrorResult{RequestID: msg.requestID, Error: wire.Refusal(err)}, true
	}
	out, err := b.send(device, kind, msg.batch.Command(wire.CallerFromToken(msg.token, b.cfg.AdminToken), device))
	if errors.Is(err, errStopping) {
		return nil, false
	}
	if err != nil {
		return ErrorResult{RequestID: msg.requestID, Error: wire.Refusal(err)}, true
	}
	if kind == "measurements" {
		return MeasurementsResult{RequestID: msg.requestID, Accepted: out.Accepted, Duplicates: out.Duplicates}, true
	}
	eids := out.EIDs
	if eids == nil {
		eids = []string{}
	}
	return EventsResult{RequestID: msg.requestID, Accepted: out.Accepted, Duplicates: out.Duplicates, EIDs: eids}, true
}

// errStopping: a transient failure outlived the bridge.
var errStopping = errors.New("bridge stopping")

// send dispatches cmd, retrying transient failures with backoff until it
// gets a final outcome or the bridge stops (errStopping).
func (b *Bridge) send(device, kind string, cmd any) (commands.Outcome, error) {
	policy := retry.Exponential(b.cfg.RetryMin, b.cfg.RetryMax)
	return retry.Forever(b.stopped, policy, func() (commands.Outcome, error) {
		// An attempt under way finishes even when the bridge is stopping:
		// its outcome is then acked rather than sent again.
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.DispatchTimeout)
		defer cancel()
		out, err := b.dispatch.Dispatch(ctx, cmd)
		if err != nil && !transient(err) {
			return out, backoff.Permanent(err)
		}
		return out, err
	}, func(err error, wait time.Duration) {
		b.logger.Warn("mqtt message not stored yet; retrying", "device", device, "command", fmt.Sprintf("%T", cmd), "err", err, "retry_in", wait)
		b.cfg.Metrics.retriedOne(kind)
	})
}

func transient(err error) bool {
	return err != nil && domain.Code(err) == domain.CodeUnavailable
}
