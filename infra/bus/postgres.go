package bus

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL: the bus lives in its own watermill_* tables of the fleetpulse
// database. Commands use Watermill's queue schema (rows deleted on ack), read
// with FOR UPDATE SKIP LOCKED, so the workers of one command type share the
// load: each takes a row nobody else holds. Not the default schema:
// its reader takes only rows older than pg_snapshot_xmin, which is
// cluster-wide, so any long transaction on the server (another database's
// included) held every command back; and its consumer group's offset row let
// one worker per command type run at a time. The queue reader does not skip a
// row that commits late: it takes every unacked row, in no promised order.
// Its cost: deleted rows stay in the table until vacuum, and a sustained run
// slows as the reader steps over them (see docs/benchmarks.md, "Command buses").
//
// Replies: each sender process has a reply table of its own (a queue table,
// rows deleted on ack) read by ONE polling subscriber that fans out to the
// waiting callers. A subscription per request would poll PostgreSQL once
// per HTTP request; LISTEN/NOTIFY would carry replies only up to 8,000
// bytes. The sender creates its table at start and drops it at a clean
// stop; a worker that finds the table gone drops the reply (nobody waits).

const (
	pgCommandPoll = 20 * time.Millisecond
	pgReplyPoll   = 5 * time.Millisecond
)

func postgresSender(ctx context.Context, cfg Config, process string, logger watermill.LoggerAdapter) (senderEnds, error) {
	if cfg.Pool == nil {
		return senderEnds{}, errors.New("postgres command bus: no pool")
	}
	db := wmsql.BeginnerFromPgx(cfg.Pool)
	pub, err := wmsql.NewPublisher(db, wmsql.PublisherConfig{
		SchemaAdapter:        wmsql.PostgreSQLQueueSchema{},
		AutoInitializeSchema: true,
	}, logger)
	if err != nil {
		return senderEnds{}, err
	}
	replyTopic := cfg.replyTopic(process)
	queue := wmsql.PostgreSQLQueueSchema{}
	ack := 5 * time.Second
	sub, err := wmsql.NewSubscriber(db, wmsql.SubscriberConfig{
		AckDeadline:      &ack,
		PollInterval:     pgReplyPoll,
		ResendInterval:   100 * time.Millisecond,
		RetryInterval:    time.Second,
		SchemaAdapter:    queue,
		OffsetsAdapter:   wmsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true},
		InitializeSchema: true,
	}, logger)
	if err != nil {
		return senderEnds{}, err
	}
	pool := cfg.Pool
	return senderEnds{commands: pub, replies: sub, replyTopic: replyTopic, close: func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+queue.MessagesTable(replyTopic))
		return err
	}}, nil
}

func postgresWorker(_ context.Context, cfg Config, logger watermill.LoggerAdapter) (workerEnds, error) {
	if cfg.Pool == nil {
		return workerEnds{}, errors.New("postgres command bus: no pool")
	}
	db := wmsql.BeginnerFromPgx(cfg.Pool)
	ackWait := cfg.AckWait
	sub, err := wmsql.NewSubscriber(db, wmsql.SubscriberConfig{
		AckDeadline:    &ackWait,
		PollInterval:   pgCommandPoll,
		ResendInterval: 100 * time.Millisecond,
		RetryInterval:  time.Second,
		// One row at a time: a busy worker holds no commands another could take.
		SchemaAdapter:    skipLockedQueue{wmsql.PostgreSQLQueueSchema{SubscribeBatchSize: 1}},
		OffsetsAdapter:   wmsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true},
		InitializeSchema: true,
	}, logger)
	if err != nil {
		return workerEnds{}, err
	}
	// Reply tables belong to their senders: never created here.
	replies, err := wmsql.NewPublisher(db, wmsql.PublisherConfig{SchemaAdapter: wmsql.PostgreSQLQueueSchema{}}, logger)
	if err != nil {
		return workerEnds{}, err
	}
	poison, err := wmsql.NewPublisher(db, wmsql.PublisherConfig{
		SchemaAdapter: wmsql.PostgreSQLQueueSchema{}, AutoInitializeSchema: true,
	}, logger)
	if err != nil {
		return workerEnds{}, err
	}
	return workerEnds{commands: sub, replies: replies, poison: poison, replyGone: undefinedTable,
		close: func() error { return nil }}, nil
}

// undefinedTable says err is PostgreSQL's "relation does not exist".
func undefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// skipLockedQueue is Watermill's PostgreSQL queue schema whose reader skips
// rows another worker holds instead of waiting for them.
type skipLockedQueue struct{ wmsql.PostgreSQLQueueSchema }

func (s skipLockedQueue) SelectQuery(p wmsql.SelectQueryParams) (wmsql.Query, error) {
	q, err := s.PostgreSQLQueueSchema.SelectQuery(p)
	if err != nil {
		return q, err
	}
	q.Query += " SKIP LOCKED"
	return q, nil
}
