package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/fleetpulse/fleetpulse/domain"
)

// errClosed is returned by calls on a closed Store.
var errClosed = errors.New("esdb store closed")

// conn owns the EventStoreDB client and replaces it when it breaks.
//
// Pitfall (client closes for good): a client whose first connection
// attempt fails - the server is not up yet, or went away and rediscovery
// failed - marks itself closed and never recovers. So the client is created
// lazily on first use, its first connection is made by one caller alone
// before anybody else shares it (the library can block concurrent callers
// of a client whose discovery fails), and it is retired as soon as a call
// reports it closed or unavailable; the next call dials a new one.
// What remains: calls that took the client just before it was retired can
// still make it rediscover; if that fails while another of them is
// starting, the library blocks that one (it ignores contexts there). The
// window is one failing call wide.
type conn struct {
	cfg    esdb.Configuration
	logger *slog.Logger

	mu      sync.Mutex
	cur     *client       // nil until dialed, and after it was retired
	dialing chan struct{} // closed when the running dial ends
	dialErr error         // how the last dial ended
	closed  bool
}

// client counts the calls running on an esdb.Client: a retired client is
// closed only after its last call returned, because the library panics or
// blocks when a client is closed under a running call.
type client struct {
	c       *esdb.Client
	users   int
	retired bool
}

func newConn(cfg esdb.Configuration, logger *slog.Logger) *conn {
	return &conn{cfg: cfg, logger: logger}
}

// do runs fn with a working client, retiring the client if fn's error says
// it is broken. A failure to connect is domain.ErrUnavailable.
func (c *conn) do(ctx context.Context, fn func(*esdb.Client) error) error {
	cl, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	err = fn(cl.c)
	c.release(cl, err)
	return err
}

func (c *conn) acquire(ctx context.Context) (*client, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errClosed
		}
		if c.cur != nil {
			cl := c.cur
			cl.users++
			c.mu.Unlock()
			return cl, nil
		}
		if c.dialing == nil {
			c.dialing = make(chan struct{})
			go c.dial(c.dialing)
		}
		done := c.dialing
		c.mu.Unlock()

		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-done:
		}
		c.mu.Lock()
		ok, err := c.cur != nil || c.closed, c.dialErr
		c.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("connect to EventStoreDB: %w: %w", domain.ErrUnavailable, err)
		}
	}
}

// dial creates a client and makes its first connection. It runs on its own
// goroutine so a caller whose ctx ends does not wait for discovery, which
// ignores contexts.
func (c *conn) dial(done chan struct{}) {
	cfg := c.cfg // each client gets its own copy: the library keeps the pointer
	cl, err := esdb.NewClient(&cfg)
	if err == nil {
		// GetServerVersion makes the client discover the node now, on this
		// goroutine only.
		if _, err = cl.GetServerVersion(); err != nil {
			_ = cl.Close()
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.dialErr = err
	c.dialing = nil
	close(done)
	if err != nil {
		// Debug: the caller gets the error; during an outage every call
		// dials, and a warning per call would flood the log.
		c.logger.Debug("EventStoreDB not reachable", "err", err)
		return
	}
	if c.closed {
		_ = cl.Close()
		return
	}
	c.cur = &client{c: cl}
	c.logger.Info("connected to EventStoreDB")
}

func (c *conn) release(cl *client, err error) {
	c.mu.Lock()
	cl.users--
	if brokenClient(err) && c.cur == cl {
		c.cur = nil
		cl.retired = true
		c.logger.Warn("EventStoreDB client broken; a new one will be dialed", "err", err)
	}
	closeIt := cl.retired && cl.users == 0
	c.mu.Unlock()
	if closeIt {
		_ = cl.c.Close()
	}
}

// close retires the current client; it is closed when its calls return.
func (c *conn) close() {
	c.mu.Lock()
	c.closed = true
	cl := c.cur
	c.cur = nil
	closeIt := false
	if cl != nil {
		cl.retired = true
		closeIt = cl.users == 0
	}
	c.mu.Unlock()
	if closeIt {
		_ = cl.c.Close()
	}
}

// logFunc routes the client's log lines to slog at debug level: the client
// logs every failed call and dropped subscription (at error level), and
// each of those also reaches the store as an error it handles or returns,
// so the client's own lines would only repeat them.
func logFunc(logger *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...interface{}) {
		logger.Debug("esdb client: "+fmt.Sprintf(format, args...), "level", level)
	}
}
