package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/fleetpulse/fleetpulse/infra/config/redact"
)

// NATS: commands travel over JetStream (durable, acknowledged, redelivered
// after AckWait), replies over core NATS subjects. A reply is only useful
// to a sender that is waiting for it now, so it needs no persistence: a
// reply published while its sender is away is lost, which is what a reply
// nobody waits for should be.
//
// On a cluster, cfg.NATSURL names every node (comma-separated): the client
// connects to one of them at random, moves to another when its node goes
// away, and never stops trying; streams are created with cfg.Replicas
// copies, so a command acknowledged by JetStream survives the loss of any
// minority of nodes.

func natsConnect(cfg Config, role string) (*nats.Conn, error) {
	conn, err := nats.Connect(cfg.NATSURL, nats.Name("fleetpulse-"+role), nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", redact.URL(cfg.NATSURL), redact.Error(err, cfg.NATSURL))
	}
	return conn, nil
}

// streams creates JetStream streams on first use: one per command topic
// (stream names hold no dots), work queues from which a command leaves once
// a worker acks it, and a poison stream kept a week.
type streams struct {
	js       nats.JetStreamManager
	replicas int
	known    sync.Map
}

func newStreams(conn *nats.Conn, replicas int) (*streams, error) {
	js, err := conn.JetStream()
	if err != nil {
		return nil, err
	}
	return &streams{js: js, replicas: replicas}, nil
}

func (s *streams) ensure(topic string, poison bool) error {
	if _, ok := s.known.Load(topic); ok {
		return nil
	}
	sc := nats.StreamConfig{Name: topic, Subjects: []string{topic}, Storage: nats.FileStorage,
		Retention: nats.WorkQueuePolicy, Duplicates: 2 * time.Minute, Replicas: s.replicas}
	if poison {
		sc.Retention, sc.MaxAge = nats.LimitsPolicy, 7*24*time.Hour
	}
	if _, err := s.js.StreamInfo(topic); err != nil {
		if _, err := s.js.AddStream(&sc); err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", topic, err)
		}
	}
	s.known.Store(topic, true)
	return nil
}

// streamPublisher creates a topic's stream before its first message.
type streamPublisher struct {
	message.Publisher
	streams *streams
	poison  bool
}

func (p streamPublisher) Publish(topic string, msgs ...*message.Message) error {
	if err := p.streams.ensure(topic, p.poison); err != nil {
		return err
	}
	return p.Publisher.Publish(topic, msgs...)
}

// streamSubscriber creates a topic's stream before subscribing to it.
type streamSubscriber struct {
	message.Subscriber
	streams *streams
}

func (s streamSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.streams.ensure(topic, false); err != nil {
		return nil, err
	}
	return s.Subscriber.Subscribe(ctx, topic)
}

func natsSender(_ context.Context, cfg Config, process string, logger watermill.LoggerAdapter) (senderEnds, error) {
	conn, err := natsConnect(cfg, "command-api")
	if err != nil {
		return senderEnds{}, err
	}
	closeConn := func() error { conn.Close(); return nil }
	st, err := newStreams(conn, cfg.Replicas)
	if err != nil {
		conn.Close()
		return senderEnds{}, err
	}
	pub, err := wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		// A publish retried after a lost PubAck is dropped by the stream's
		// duplicate window, keyed by the message uuid.
		JetStream: wmnats.JetStreamConfig{TrackMsgId: true},
	}, logger)
	if err != nil {
		conn.Close()
		return senderEnds{}, err
	}
	sub, err := wmnats.NewSubscriberWithNatsConn(conn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler: &wmnats.NATSMarshaler{},
		JetStream:   wmnats.JetStreamConfig{Disabled: true},
	}, logger)
	if err != nil {
		conn.Close()
		return senderEnds{}, err
	}
	return senderEnds{commands: streamPublisher{Publisher: pub, streams: st}, replies: sub, replyTopic: cfg.replyTopic(process), close: closeConn}, nil
}

func natsWorker(_ context.Context, cfg Config, logger watermill.LoggerAdapter) (workerEnds, error) {
	conn, err := natsConnect(cfg, "command-worker")
	if err != nil {
		return workerEnds{}, err
	}
	st, err := newStreams(conn, cfg.Replicas)
	if err != nil {
		conn.Close()
		return workerEnds{}, err
	}
	// All workers join one durable queue consumer per command topic (the
	// durable and queue group are the topic's name), so each command goes
	// to one of them and an unacked one is redelivered after AckWait.
	sub, err := wmnats.NewSubscriberWithNatsConn(conn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler:      &wmnats.NATSMarshaler{},
		SubscribersCount: cfg.Concurrency,
		AckWaitTimeout:   cfg.AckWait,
		CloseTimeout:     30 * time.Second,
		SubjectCalculator: func(_, topic string) *wmnats.SubjectDetail {
			return &wmnats.SubjectDetail{Primary: topic, QueueGroup: topic}
		},
		JetStream: wmnats.JetStreamConfig{
			DurableCalculator: func(_, topic string) string { return topic },
			SubscribeOptions: []nats.SubOpt{
				nats.ManualAck(), nats.AckExplicit(), nats.AckWait(cfg.AckWait), nats.DeliverAll(),
				nats.MaxAckPending(cfg.Concurrency * 64),
			},
		},
	}, logger)
	if err != nil {
		conn.Close()
		return workerEnds{}, err
	}
	replies, err := wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream:         wmnats.JetStreamConfig{Disabled: true},
	}, logger)
	if err != nil {
		conn.Close()
		return workerEnds{}, err
	}
	poison, err := wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
	}, logger)
	if err != nil {
		conn.Close()
		return workerEnds{}, err
	}
	return workerEnds{commands: streamSubscriber{Subscriber: sub, streams: st}, replies: replies,
		poison: streamPublisher{Publisher: poison, streams: st, poison: true}, close: func() error {
			// Drain, not Close: acks of the last commands still go out.
			if err := conn.Drain(); err != nil {
				conn.Close()
			}
			for conn.IsDraining() {
				time.Sleep(10 * time.Millisecond)
			}
			return nil
		}}, nil
}
