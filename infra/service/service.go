// Package service wires fleetpulse's three processes from configuration:
// the command API, the projector and the read API. Each Run builds its
// dependencies in order, serves until ctx ends, then drains and closes.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/alerting"
	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/infra/bus"
	"github.com/fleetpulse/fleetpulse/infra/commandapi"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/esdb"
	"github.com/fleetpulse/fleetpulse/infra/forwarder"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/importer"
	"github.com/fleetpulse/fleetpulse/infra/metrics"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/importjobs"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/infra/postgres/webhookstore"
	"github.com/fleetpulse/fleetpulse/infra/retry"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// EventStore is everything the processes need from an event store.
type EventStore interface {
	commands.EventStore
	projections.EventLog
	projections.Waiter
	Head(ctx context.Context) (domain.Position, error)
	Ping(ctx context.Context) error
}

// Env is what the processes share: the PostgreSQL pool (read models,
// checkpoints) and the event store (nil for a read API on a hot standby:
// WithReadPostgres).
type Env struct {
	Pool  *pgxpool.Pool
	Store EventStore
}

// Ready, if set, receives each server's bound address by name
// ("command", "read", "projector"); tests and `dev` use it.
type Ready func(name, addr string)

// OpenPostgres connects to PostgreSQL and migrates the schema: the event
// store's tables and the read models', whichever event store is configured
// (their migrations are one version sequence).
func OpenPostgres(ctx context.Context, cfg config.Config, logger *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := postgres.Connect(ctx, cfg.PostgresURL, cfg.PostgresMaxConns)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, pool, logger, eventstore.Migrations(), readmodel.Migrations()); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// OpenEventStore opens the configured event store.
func OpenEventStore(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger) (EventStore, func(), error) {
	switch cfg.EventStore {
	case "postgres":
		arch, err := openArchive(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		st := eventstore.New(pool, eventstore.Config{PollInterval: cfg.PollInterval, DedupHorizon: cfg.DedupHorizon,
			Logger: logger.With("component", "eventstore"), Archive: arch})
		return st, st.Close, nil
	case "esdb":
		st, err := esdb.Open(ctx, cfg.ESDBURL, logger.With("component", "esdb"), esdb.WithPollInterval(cfg.PollInterval))
		if err != nil {
			return nil, nil, err
		}
		return st, st.Close, nil
	}
	return nil, nil, fmt.Errorf("event store %q is not supported", cfg.EventStore)
}

// RunCommandAPI serves the command API until ctx ends.
func RunCommandAPI(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger, ready Ready) error {
	store := env.Store
	if cfg.AdminToken == "" {
		return errors.New("FLEETPULSE_ADMIN_TOKEN is required by the command API")
	}
	reg := httpx.NewRegistry()
	guard, err := WebhookGuard(cfg)
	if err != nil {
		return err
	}
	app := commands.NewApplication(appendingStore(reg, env), time.Now, TelemetryPolicy(cfg)).WithWebhookTargets(guard)
	var cmdBus interface {
		commandapi.Dispatcher
		Close() error
	}
	if cfg.CommandBus == "nats" || cfg.CommandBus == "postgres" {
		// Handlers run in command workers; this process only sends,
		// unless told to run a worker of its own as well.
		if cfg.CommandAPIHandlers {
			wcfg := busConfig(cfg, env)
			wcfg.Metrics = bus.NewMetrics(reg)
			w, err := bus.NewWorker(ctx, app, wcfg, logger)
			if err != nil {
				return err
			}
			defer w.Close()
		}
		sender, err := bus.NewSender(ctx, busConfig(cfg, env), logger)
		if err != nil {
			return err
		}
		cmdBus = sender
	} else {
		inproc, err := bus.NewInProcess(app, logger, cfg.RequestTimeout, bus.WithMetrics(bus.NewMetrics(reg)))
		if err != nil {
			return err
		}
		cmdBus = inproc
	}
	apiCfg := commandapi.Config{
		AdminToken: cfg.AdminToken, MaxBodyBytes: cfg.MaxBodyBytes, RequestTimeout: cfg.RequestTimeout,
		DeviceLimiter: httpx.NewDeviceRateLimiter(cfg.DeviceRate, cfg.DeviceBurst, time.Now),
		Webhooks:      webhookstore.New(env.Pool),
	}
	importsDone := make(chan struct{})
	if cfg.ImportJobs {
		jobs := importjobs.New(env.Pool)
		var imports importer.Dispatcher = cmdBus
		if cfg.CommandBus != "nats" && cfg.CommandBus != "postgres" {
			// The handlers are in this process: the jobs call them directly.
			imports = importer.Handlers{App: app}
		}
		runner := importer.NewRunner(NewImporter(cfg, imports), jobs, importer.RunnerConfig{Lease: cfg.ImportLease},
			logger.With("component", "import"))
		apiCfg.Imports, apiCfg.MaxImportBytes = wakingImports{Store: jobs, runner: runner}, cfg.ImportMaxBytes
		go func() {
			defer close(importsDone)
			_ = runner.Run(ctx)
		}()
	} else {
		close(importsDone)
	}
	h := commandapi.NewHandler(cmdBus, apiCfg, reg, logger.With("api", "command"), httpx.Pinger(store.Ping))
	stopMQTT := startMQTTBridge(ctx, cfg, cmdBus, reg, logger)
	err = httpx.Serve(ctx, cfg.CommandAddr, h, cfg.ShutdownTimeout, logger.With("api", "command"), readyChan(ready, "command"))
	if merr := stopMQTT(); err == nil {
		err = merr
	}
	// An import job being run is given back to the queue before the bus
	// it sends through closes.
	<-importsDone
	// The HTTP server and the MQTT bridge drained first; the bus then
	// finishes what it holds.
	if cerr := cmdBus.Close(); err == nil {
		err = cerr
	}
	return err
}

// NewImporter is the bulk importer sending its commands through d, with the
// command side's telemetry policy and the archive's file reader (Parquet):
// the CLI's and the import jobs'.
func NewImporter(cfg config.Config, d importer.Dispatcher) *importer.Importer {
	return importer.New(d, importer.Config{BatchSize: cfg.ImportBatch, Policy: TelemetryPolicy(cfg), Clock: time.Now, Archive: archive.ReadFile})
}

// LocalImporter is the bulk importer of `fleetpulse import`: the command
// handlers run in this process, on env's event store; close stops them.
func LocalImporter(cfg config.Config, env Env, logger *slog.Logger) (im *importer.Importer, close func() error, err error) {
	app := commands.NewApplication(env.Store, time.Now, TelemetryPolicy(cfg))
	return NewImporter(cfg, importer.Handlers{App: app}), func() error { return nil }, nil
}

// wakingImports wakes the import runner of this process when a job is
// queued, instead of leaving it to its next poll.
type wakingImports struct {
	*importjobs.Store
	runner *importer.Runner
}

func (w wakingImports) Create(ctx context.Context, format importer.Format, body io.Reader) (importer.Job, error) {
	job, err := w.Store.Create(ctx, format, body)
	if err == nil {
		w.runner.Wake()
	}
	return job, err
}

// busConfig is the distributed command bus's configuration.
func busConfig(cfg config.Config, env Env) bus.Config {
	return bus.Config{
		Backend: cfg.CommandBus, NATSURL: cfg.NATSURL, Pool: env.Pool, Prefix: cfg.BusPrefix,
		AckWait: cfg.BusAckWait, ReplyTimeout: cfg.RequestTimeout, Concurrency: cfg.BusConcurrency, Replicas: cfg.BusReplicas,
	}
}

// RunCommandWorker handles commands that command APIs send over a
// distributed bus (FLEETPULSE_COMMAND_BUS nats or postgres) until ctx ends,
// serving health and metrics on cfg.WorkerAddr.
func RunCommandWorker(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger, ready Ready) error {
	if cfg.CommandBus != "nats" && cfg.CommandBus != "postgres" {
		return fmt.Errorf("a command worker needs a distributed command bus (FLEETPULSE_COMMAND_BUS nats or postgres), not %q", cfg.CommandBus)
	}
	store := env.Store
	reg := httpx.NewRegistry()
	guard, err := WebhookGuard(cfg)
	if err != nil {
		return err
	}
	app := commands.NewApplication(appendingStore(reg, env), time.Now, TelemetryPolicy(cfg)).WithWebhookTargets(guard)
	wcfg := busConfig(cfg, env)
	wcfg.Metrics = bus.NewMetrics(reg)
	w, err := bus.NewWorker(ctx, app, wcfg, logger)
	if err != nil {
		return err
	}
	r := mux.NewRouter()
	httpx.Ops(r, reg, httpx.Pinger(store.Ping))
	err = httpx.Serve(ctx, cfg.WorkerAddr, r, cfg.ShutdownTimeout, logger.With("component", "worker-http"), readyChan(ready, "worker"))
	// Commands being handled finish and their outcomes are sent.
	if cerr := w.Close(); err == nil || errors.Is(err, http.ErrServerClosed) {
		err = cerr
	}
	return err
}

// RunReadAPI serves the read API until ctx ends.
func RunReadAPI(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger, ready Ready) error {
	pool := env.Pool
	reg := httpx.NewRegistry()
	reg.MustRegister(postgres.ReplicationCollector(pool, logger.With("component", "replication")))
	reg.MustRegister(metrics.NewPoolCollector(pool))
	queries, err := readmodel.NewQueries(pool)
	if err != nil {
		return err
	}
	if cfg.ReadAuthOff {
		logger.Warn("the read API is open: FLEETPULSE_READ_AUTH=off lets anyone who reaches it read every device's data")
	}
	rcfg := readAPIConfig(cfg)
	if env.Store != nil {
		rcfg.Feed = env.Store // the event feed reads the log; a standby's read API has none
	}
	if cfg.ReadPostgresURL == cfg.PostgresURL {
		// Commit notifications are not replicated: on a hot standby the
		// read API neither caches nor pushes, it reads every request.
		rcfg.Commits = readmodel.NewCommitListener(cfg.PostgresURL, logger.With("component", "commit-listener"))
	} else {
		logger.Info("reading a hot standby: response cache and live push are off")
	}
	api := readapi.New(queries, rcfg, time.Now, reg, logger.With("api", "read"))
	listenCtx, stopListening := context.WithCancel(ctx)
	listened := make(chan error, 1)
	go func() { listened <- api.Run(listenCtx) }()
	err = httpx.Serve(ctx, cfg.ReadAddr, api, cfg.ShutdownTimeout, logger.With("api", "read"), readyChan(ready, "read"))
	stopListening()
	if lerr := <-listened; err == nil {
		err = lerr
	}
	return err
}

// RunProjector keeps the read models up to date until ctx ends, and runs
// alerting beside it (the integration-event forwarder and the alert
// evaluator) unless cfg.Alerting is off, and the NATS event feed when
// cfg.FeedNATSURL is set, serving health and metrics on
// cfg.ProjectorAddr. Either stopping with an error stops both. With
// cfg.ProjectorShares > 1 it projects only share cfg.ProjectorShare's
// devices; alerting and read-model maintenance, which are fleet-wide, run
// in share 0's process only.
func RunProjector(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger, ready Ready) error {
	pool, store := env.Pool, env.Store
	reg := httpx.NewRegistry()
	projected := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fleetpulse_projected_events_total", Help: "Events applied to the read models."})
	reg.MustRegister(projected)
	registerProjectorCollectors(reg, env, logger.With("component", "projector-metrics"))

	writer, err := readmodel.NewWriter(pool, WriterConfig(cfg))
	if err != nil {
		return err
	}
	maintenance, err := readmodel.NewMaintenance(pool, WriterConfig(cfg).Retention, time.Now, logger.With("component", "read-model-maintenance"))
	if err != nil {
		return err
	}
	share := projections.Share{Index: cfg.ProjectorShare, Count: cfg.ProjectorShares}
	projector := projections.NewProjector(store, store, writer, logger.With("component", "projector", "share", share.Index, "shares", share.Shares()),
		projections.Config{BatchSize: cfg.ProjectorBatch, Share: share, OnBatch: func(n int, _ domain.RecordedEvent) {
			projected.Add(float64(n))
		}, Retry: retry.Doubling(100*time.Millisecond, 5*time.Second)})
	fleetWide := share.Index == 0

	var archiver *archive.Archiver
	if cfg.ArchiveInterval > 0 {
		if archiver, err = NewArchiver(ctx, cfg, env, ScheduledArchive(cfg), logger.With("component", "archive")); err != nil {
			return err
		}
	}
	// The NATS event feed, connected before anything runs: a feed that
	// cannot start stops the projector at once.
	var feed *forwarder.Forwarder
	if fleetWide && cfg.FeedNATSURL != "" {
		checkpoints, err := readmodel.NewWriter(pool, WriterConfig(cfg))
		if err != nil {
			return err
		}
		var closeFeed func()
		feed, closeFeed, err = NewNATSFeed(ctx, cfg, store, store, checkpoints, logger.With("component", "nats-feed"))
		if err != nil {
			return err
		}
		defer closeFeed()
	}

	r := mux.NewRouter()
	httpx.Ops(r, reg, httpx.Pinger(pool.Ping), httpx.Pinger(store.Ping))
	errc := make(chan error, 2)
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	go func() {
		errc <- httpx.Serve(httpCtx, cfg.ProjectorAddr, r, cfg.ShutdownTimeout, logger.With("component", "projector-http"), readyChan(ready, "projector"))
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return projector.Run(gctx) })
	// Partitions ahead of the data, expired ones dropped, closed chunks
	// merged: beside the projection, never in its way.
	if fleetWide {
		g.Go(func() error { return maintenance.Run(gctx) })
	}
	if archiver != nil && fleetWide {
		// Old, applied stretches of the log move to the archive (one
		// process archives: share 0's).
		g.Go(func() error {
			return runArchivePolicy(gctx, archiver, cfg.ArchiveInterval, logger.With("component", "archive"))
		})
	}
	switch {
	case !fleetWide:
		logger.Info("alerting, archiving and read-model maintenance run in share 0's projector", "share", share.Index)
	case cfg.Alerting:
		alertMetrics := alerting.NewMetrics(reg)
		checkpoints, err := readmodel.NewWriter(pool, WriterConfig(cfg))
		if err != nil {
			return err
		}
		g.Go(func() error {
			return alerting.Run(gctx, store, checkpoints, alerting.SystemClock{}, logger.With("component", "alerting"),
				alerting.Config{OfflineAfter: cfg.OfflineAfter, Metrics: alertMetrics})
		})
		// Alert webhooks: dispatched from the log beside the projector,
		// delivered by workers of their own; neither waits on the other.
		guard, err := WebhookGuard(cfg)
		if err != nil {
			return err
		}
		hooks := NewWebhooks(cfg, store, webhookstore.New(pool), guard, logger, WebhookMetrics(reg))
		g.Go(func() error { return hooks.Run(gctx) })
	default:
		logger.Info("alerting is off (FLEETPULSE_ALERTING=false): no alerts, no device status")
	}
	if feed != nil {
		g.Go(func() error { return feed.Run(gctx) })
	}
	err = g.Wait()
	stopHTTP()
	if herr := <-errc; err == nil && herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		err = herr
	}
	return err
}

// readAPIConfig is the read API's configuration: its limits and who may read.
func readAPIConfig(cfg config.Config) readapi.Config {
	rcfg := readapi.Config{RequestTimeout: cfg.RequestTimeout, Auth: readapi.AuthConfig{
		Open: cfg.ReadAuthOff, AdminToken: cfg.AdminToken, KeyCacheTTL: cfg.ReadKeyCacheTTL,
	}, CacheBytes: cfg.ReadCacheBytes, LiveBuffer: cfg.LiveBuffer, LiveHeartbeat: cfg.LiveHeartbeat}
	if cfg.ReadCacheBytes == 0 {
		rcfg.CacheBytes = -1 // FLEETPULSE_READ_CACHE_BYTES=0: no cache
	}
	return rcfg
}

// WriterConfig is the read models' writer configuration: how long the
// time-partitioned read models keep rows.
func WriterConfig(cfg config.Config) readmodel.WriterConfig {
	return readmodel.WriterConfig{Retention: readmodel.Retention{Raw: cfg.RawRetention, Hourly: cfg.HourlyRetention},
		LiveRetention: cfg.LiveRetention}
}

// TelemetryPolicy is the limits commands check telemetry and corrections against.
func TelemetryPolicy(cfg config.Config) domain.TelemetryPolicy {
	return domain.TelemetryPolicy{MaxFutureSkew: cfg.MaxFutureSkew, CorrectionWindow: cfg.CorrectionWindow()}
}

func readyChan(ready Ready, name string) chan<- string {
	if ready == nil {
		return nil
	}
	ch := make(chan string, 1)
	go func() {
		if addr, ok := <-ch; ok {
			ready(name, addr)
		}
	}()
	return ch
}
