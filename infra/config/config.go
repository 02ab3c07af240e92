// Package config reads fleetpulse's settings from environment variables,
// each with a documented default (see README's configuration table).
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/config/redact"
)

// Config is every setting of every fleetpulse process.
type Config struct {
	PostgresURL      string        // FLEETPULSE_PG_URL
	ReadPostgresURL  string        // FLEETPULSE_READ_PG_URL; the primary's when unset
	PostgresMaxConns int32         // FLEETPULSE_PG_MAX_CONNS
	EventStore       string        // FLEETPULSE_EVENT_STORE: postgres or esdb
	ESDBURL          string        // FLEETPULSE_ESDB_URL
	AdminToken       string        // FLEETPULSE_ADMIN_TOKEN
	CommandAddr      string        // FLEETPULSE_COMMAND_ADDR
	ReadAddr         string        // FLEETPULSE_READ_ADDR
	ReadAuthOff      bool          // FLEETPULSE_READ_AUTH=off
	ReadKeyCacheTTL  time.Duration // FLEETPULSE_READ_KEY_CACHE_TTL
	ProjectorAddr    string        // FLEETPULSE_PROJECTOR_ADDR
	MaxBodyBytes     int64         // FLEETPULSE_MAX_BODY_BYTES
	MaxFutureSkew    time.Duration // FLEETPULSE_MAX_FUTURE_SKEW
	RequestTimeout   time.Duration // FLEETPULSE_REQUEST_TIMEOUT
	ProjectorBatch   int           // FLEETPULSE_PROJECTOR_BATCH
	ProjectorShares  int           // FLEETPULSE_PROJECTOR_SHARES
	ProjectorShare   int           // FLEETPULSE_PROJECTOR_SHARE: 0 .. ProjectorShares-1
	PollInterval     time.Duration // FLEETPULSE_POLL_INTERVAL
	ShutdownTimeout  time.Duration // FLEETPULSE_SHUTDOWN_TIMEOUT
	DeviceRate       float64       // FLEETPULSE_DEVICE_RATE
	DeviceBurst      int           // FLEETPULSE_DEVICE_BURST
	LogLevel         slog.Level    // FLEETPULSE_LOG_LEVEL

	CommandBus         string        // FLEETPULSE_COMMAND_BUS: inprocess, nats or postgres
	NATSURL            string        // FLEETPULSE_NATS_URL
	BusPrefix          string        // FLEETPULSE_BUS_PREFIX
	BusAckWait         time.Duration // FLEETPULSE_BUS_ACK_WAIT
	BusConcurrency     int           // FLEETPULSE_BUS_CONCURRENCY
	BusReplicas        int           // FLEETPULSE_BUS_REPLICAS
	WorkerAddr         string        // FLEETPULSE_WORKER_ADDR
	CommandAPIHandlers bool          // FLEETPULSE_COMMAND_API_HANDLERS
	MQTTEnabled        bool          // FLEETPULSE_MQTT_ENABLED
	MQTTURL            string        // FLEETPULSE_MQTT_URL
	MQTTClientID       string        // FLEETPULSE_MQTT_CLIENT_ID
	MQTTShareGroup     string        // FLEETPULSE_MQTT_SHARE_GROUP
	MQTTTopicRoot      string        // FLEETPULSE_MQTT_TOPIC_ROOT
	OfflineAfter       time.Duration // FLEETPULSE_OFFLINE_AFTER
	Alerting           bool          // FLEETPULSE_ALERTING
	FeedNATSURL        string        // FLEETPULSE_FEED_NATS_URL; "" turns the NATS event feed off
	FeedNATSPrefix     string        // FLEETPULSE_FEED_NATS_PREFIX

	WebhookAllow        string        // FLEETPULSE_WEBHOOK_ALLOW
	WebhookDisableAfter int           // FLEETPULSE_WEBHOOK_DISABLE_AFTER
	WebhookTimeout      time.Duration // FLEETPULSE_WEBHOOK_TIMEOUT
	WebhookRetryMin     time.Duration // FLEETPULSE_WEBHOOK_RETRY_MIN
	WebhookRetryMax     time.Duration // FLEETPULSE_WEBHOOK_RETRY_MAX
	WebhookLogRetention time.Duration // FLEETPULSE_WEBHOOK_LOG_RETENTION

	RawRetention    time.Duration // FLEETPULSE_RAW_RETENTION
	HourlyRetention time.Duration // FLEETPULSE_HOURLY_RETENTION
	DedupHorizon    time.Duration // FLEETPULSE_DEDUP_HORIZON

	ImportJobs       bool          // FLEETPULSE_IMPORT_JOBS
	ImportMaxBytes   int64         // FLEETPULSE_IMPORT_MAX_BYTES
	ImportBatch      int           // FLEETPULSE_IMPORT_BATCH
	ImportLease      time.Duration // FLEETPULSE_IMPORT_LEASE
	ReadCacheBytes   int           // FLEETPULSE_READ_CACHE_BYTES
	LiveRetention    time.Duration // FLEETPULSE_LIVE_RETENTION
	LiveBuffer       int           // FLEETPULSE_LIVE_BUFFER
	LiveHeartbeat    time.Duration // FLEETPULSE_LIVE_HEARTBEAT
	ArchiveURL       string        // FLEETPULSE_ARCHIVE_URL; "" when no archive is kept
	ArchiveHorizon   time.Duration // FLEETPULSE_ARCHIVE_HORIZON
	ArchiveInterval  time.Duration // FLEETPULSE_ARCHIVE_INTERVAL; 0: the projector does not archive
	ArchiveRate      int           // FLEETPULSE_ARCHIVE_RATE; items/s of the projector's runs, 0: unpaced
	ArchiveFileItems int           // FLEETPULSE_ARCHIVE_FILE_ITEMS; rows per file of the projector's runs
}

// Vars lists every variable with its default and meaning, for --help and README.
var Vars = []struct{ Name, Default, Meaning string }{
	{"FLEETPULSE_PG_URL", "postgres://postgres@127.0.0.1:5432/fleetpulse?sslmode=disable", "PostgreSQL for read models, checkpoints and (by default) the event store"},
	{"FLEETPULSE_READ_PG_URL", "(FLEETPULSE_PG_URL)", "PostgreSQL the read API reads from: a hot standby of the primary (never migrated from the read API), or the primary itself"},
	{"FLEETPULSE_PG_MAX_CONNS", "16", "connections per process pool"},
	{"FLEETPULSE_EVENT_STORE", "postgres", "event store: postgres or esdb"},
	{"FLEETPULSE_ESDB_URL", "esdb://127.0.0.1:2113?tls=false", "EventStoreDB/KurrentDB connection string (event store esdb)"},
	{"FLEETPULSE_ADMIN_TOKEN", "(none; required by the command API)", "operator bearer token"},
	{"FLEETPULSE_COMMAND_ADDR", ":8080", "command API listen address"},
	{"FLEETPULSE_READ_ADDR", ":8081", "read API listen address"},
	{"FLEETPULSE_READ_AUTH", "on", "on: every read API route but /healthz, /readyz, the dashboard's files and the API description needs a read key (or the admin token); off: anyone who reaches the read API reads everything"},
	{"FLEETPULSE_READ_KEY_CACHE_TTL", "1s", "how long the read API believes a read key it found valid: a revoked key is refused at most this long after the projector applied its revocation"},
	{"FLEETPULSE_PROJECTOR_ADDR", ":8082", "projector health and metrics address"},
	{"FLEETPULSE_MAX_BODY_BYTES", "1048576", "largest request body the command API reads"},
	{"FLEETPULSE_MAX_FUTURE_SKEW", "15m", "how far in the future a device timestamp may be"},
	{"FLEETPULSE_REQUEST_TIMEOUT", "10s", "time limit of one API request"},
	{"FLEETPULSE_PROJECTOR_BATCH", "2000", "events per projection transaction"},
	{"FLEETPULSE_PROJECTOR_SHARES", "1", "shares the read-model projection runs as, one projector process each (at most 256); changing it on a projection that has projected anything takes `fleetpulse rebuild -shares N` first"},
	{"FLEETPULSE_PROJECTOR_SHARE", "0", "the share this projector projects, 0 to FLEETPULSE_PROJECTOR_SHARES-1: the devices whose id's 32-bit FNV-1a hash modulo the share count is this number; share 0 also runs alerting and read-model maintenance"},
	{"FLEETPULSE_POLL_INTERVAL", "250ms", "projector polling fallback when no notification arrives"},
	{"FLEETPULSE_SHUTDOWN_TIMEOUT", "15s", "time to drain in-flight work on SIGTERM"},
	{"FLEETPULSE_DEVICE_RATE", "50", "requests per second one device may send to the command API (429 beyond)"},
	{"FLEETPULSE_DEVICE_BURST", "100", "requests one device may send at once above its rate"},
	{"FLEETPULSE_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"FLEETPULSE_COMMAND_BUS", "inprocess", "command bus: inprocess, nats (JetStream) or postgres (watermill tables in FLEETPULSE_PG_URL's database)"},
	{"FLEETPULSE_NATS_URL", "nats://127.0.0.1:4222", "NATS server (command bus nats); a comma-separated list names every node of a cluster"},
	{"FLEETPULSE_BUS_PREFIX", "fleetpulse", "prefix of the distributed bus's streams, subjects and tables (letters, digits, underscores)"},
	{"FLEETPULSE_BUS_ACK_WAIT", "30s", "a command not acknowledged by its worker within this time is redelivered"},
	{"FLEETPULSE_BUS_CONCURRENCY", "16", "commands of one type a worker handles at once (command bus nats)"},
	{"FLEETPULSE_BUS_REPLICAS", "1", "copies JetStream keeps of each command stream it creates (command bus nats): 3 on a three-node cluster, at most 5"},
	{"FLEETPULSE_WORKER_ADDR", ":8083", "command worker health and metrics address"},
	{"FLEETPULSE_COMMAND_API_HANDLERS", "false", "with a distributed bus, the command API also runs a worker (true/false)"},
	{"FLEETPULSE_MQTT_ENABLED", "false", "run the MQTT ingestion bridge inside the command API (`fleetpulse dev` turns it on)"},
	{"FLEETPULSE_MQTT_URL", "tcp://127.0.0.1:1883", "MQTT broker the bridge subscribes to"},
	{"FLEETPULSE_MQTT_CLIENT_ID", "fleetpulse-bridge-<host name>", "the bridge's MQTT session; unique per bridge, stable across its restarts"},
	{"FLEETPULSE_MQTT_SHARE_GROUP", "fleetpulse", "shared-subscription group: the bridges of one group split the devices' messages"},
	{"FLEETPULSE_MQTT_TOPIC_ROOT", "fleetpulse", "first level of the devices' MQTT topics (`<root>/<device id>/measurements`); one per deployment sharing a broker"},
	{"FLEETPULSE_OFFLINE_AFTER", "10m", "a device that sends no measured data for this long is reported silent (DeviceWentSilent)"},
	{"FLEETPULSE_RAW_RETENTION", "90d", "how long raw measurements and vehicle events are kept, by their measured time (whole partitions are dropped; daily aggregates keep counting them); corrections are accepted for measurements measured within it, less two days"},
	{"FLEETPULSE_HOURLY_RETENTION", "730d", "how long hourly aggregates are kept (daily aggregates are kept for ever)"},
	{"FLEETPULSE_DEDUP_HORIZON", "7d", "how long after it was recorded a measurement id or event eid is still recognised as a duplicate (7d, 36h, 5m); its keys are dropped a partition at a time, a day wide from 2d up, else at most a quarter of it (at least a minute)"},
	{"FLEETPULSE_IMPORT_JOBS", "true", "the command API takes bulk import uploads (POST /v1/imports) and runs their jobs in the background (true/false)"},
	{"FLEETPULSE_IMPORT_MAX_BYTES", "1073741824", "largest import upload the command API takes (413 beyond); uploads are kept in PostgreSQL until their job ends"},
	{"FLEETPULSE_IMPORT_BATCH", "5000", "rows an import sends between two commits of its progress, one command per station (at most 10000)"},
	{"FLEETPULSE_IMPORT_LEASE", "1m", "an import job whose process stops committing for this long (it died) is resumed by another"},
	{"FLEETPULSE_WEBHOOK_ALLOW", "(empty: none)", "webhook targets allowed although loopback, private, link-local, unspecified or multicast: CIDR prefixes, addresses and exact host names, comma-separated (e.g. `10.20.0.0/16,hooks.internal`)"},
	{"FLEETPULSE_WEBHOOK_DISABLE_AFTER", "20", "failed delivery attempts in a row that disable a webhook (WebhookDisabled)"},
	{"FLEETPULSE_WEBHOOK_TIMEOUT", "10s", "time limit of one webhook delivery attempt"},
	{"FLEETPULSE_WEBHOOK_RETRY_MIN", "1s", "wait after a webhook's first failed attempt; each further failure doubles it (with +-50% jitter)"},
	{"FLEETPULSE_WEBHOOK_RETRY_MAX", "10m", "longest wait between two attempts of a webhook delivery"},
	{"FLEETPULSE_WEBHOOK_LOG_RETENTION", "30d", "how long webhook delivery-log entries are kept (pruned hourly)"},
	{"FLEETPULSE_READ_CACHE_BYTES", "67108864", "memory the read API's response cache may hold (encoded and gzip bodies); 0 turns the cache off"},
	{"FLEETPULSE_LIVE_RETENTION", "10m", "how long the projector keeps each commit's changes for live push (SSE) clients to resume from with Last-Event-ID; one that was away longer is told to reload"},
	{"FLEETPULSE_LIVE_BUFFER", "256", "changes a live push subscriber may have waiting; a client that falls further behind is disconnected (it resumes with Last-Event-ID)"},
	{"FLEETPULSE_LIVE_HEARTBEAT", "15s", "how often an idle live push stream gets a comment line, so proxies keep it open"},
	{"FLEETPULSE_ARCHIVE_URL", "(none)", "where the event log's old telemetry is archived as Parquet files: a directory (path or file:///path) or an S3-compatible bucket (s3://bucket/prefix?region=...); needed by every process once anything is archived (docs/archive.md)"},
	{"FLEETPULSE_ARCHIVE_HORIZON", "30d", "telemetry recorded longer ago than this may be archived (at least FLEETPULSE_DEDUP_HORIZON)"},
	{"FLEETPULSE_ARCHIVE_INTERVAL", "0", "the projector archives every this often (0: never; run `fleetpulse archive` instead)"},
	{"FLEETPULSE_ARCHIVE_RATE", "60000", "items (measurements, samples) a second the projector's archive runs take at most, so that ingest on the same machine keeps its cores; 0: unpaced (`fleetpulse archive` is never paced)"},
	{"FLEETPULSE_ARCHIVE_FILE_ITEMS", "50000", "items in one archive file of the projector's runs at most, which bounds the projector's memory while it archives (`fleetpulse archive` writes files of 50000 items)"},
	{"FLEETPULSE_FEED_NATS_URL", "(none: off)", "NATS server the projector publishes the public event feed to (JetStream subjects `<prefix>.events.<type>.<device>`); unset, nothing is published"},
	{"FLEETPULSE_FEED_NATS_PREFIX", "fleetpulse", "first token of the event feed's NATS subjects (letters, digits, '_' and '-'); its stream is the prefix in upper case with _EVENTS"},
	{"FLEETPULSE_ALERTING", "true", "the projector also runs alerting (integration-event forwarder and alert evaluator); false turns alerts and device status off and saves the CPU they take"},
}

// FromEnv reads the configuration from the environment; getenv is os.Getenv
// in production and a map lookup in tests.
func FromEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	r := reader{getenv: getenv, defaults: map[string]string{}}
	for _, v := range Vars {
		r.defaults[v.Name] = v.Default
	}
	c := Config{
		PostgresURL:      r.str("FLEETPULSE_PG_URL"),
		ReadPostgresURL:  getenv("FLEETPULSE_READ_PG_URL"),
		PostgresMaxConns: int32(r.int("FLEETPULSE_PG_MAX_CONNS")),
		EventStore:       r.str("FLEETPULSE_EVENT_STORE"),
		ESDBURL:          r.str("FLEETPULSE_ESDB_URL"),
		AdminToken:       getenv("FLEETPULSE_ADMIN_TOKEN"),
		CommandAddr:      r.str("FLEETPULSE_COMMAND_ADDR"),
		ReadAddr:         r.str("FLEETPULSE_READ_ADDR"),
		ReadKeyCacheTTL:  r.duration("FLEETPULSE_READ_KEY_CACHE_TTL"),
		ProjectorAddr:    r.str("FLEETPULSE_PROJECTOR_ADDR"),
		MaxBodyBytes:     int64(r.int("FLEETPULSE_MAX_BODY_BYTES")),
		MaxFutureSkew:    r.duration("FLEETPULSE_MAX_FUTURE_SKEW"),
		RequestTimeout:   r.duration("FLEETPULSE_REQUEST_TIMEOUT"),
		ProjectorBatch:   r.int("FLEETPULSE_PROJECTOR_BATCH"),
		ProjectorShares:  r.int("FLEETPULSE_PROJECTOR_SHARES"),
		ProjectorShare:   r.nonNegative("FLEETPULSE_PROJECTOR_SHARE"),
		PollInterval:     r.duration("FLEETPULSE_POLL_INTERVAL"),
		ShutdownTimeout:  r.duration("FLEETPULSE_SHUTDOWN_TIMEOUT"),
		DeviceRate:       float64(r.int("FLEETPULSE_DEVICE_RATE")),
		DeviceBurst:      r.int("FLEETPULSE_DEVICE_BURST"),

		CommandBus:     r.str("FLEETPULSE_COMMAND_BUS"),
		NATSURL:        r.str("FLEETPULSE_NATS_URL"),
		BusPrefix:      r.str("FLEETPULSE_BUS_PREFIX"),
		BusAckWait:     r.duration("FLEETPULSE_BUS_ACK_WAIT"),
		BusConcurrency: r.int("FLEETPULSE_BUS_CONCURRENCY"),
		BusReplicas:    r.int("FLEETPULSE_BUS_REPLICAS"),
		WorkerAddr:     r.str("FLEETPULSE_WORKER_ADDR"),
	}
	switch v := r.str("FLEETPULSE_READ_AUTH"); v {
	case "on":
	case "off":
		c.ReadAuthOff = true
	default:
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_READ_AUTH: want on or off, got %q", v))
	}
	if c.ProjectorShares > 256 || c.ProjectorShares > 0 && c.ProjectorShare >= c.ProjectorShares {
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_PROJECTOR_SHARE=%d of FLEETPULSE_PROJECTOR_SHARES=%d: want 0 <= share < shares <= 256", c.ProjectorShare, c.ProjectorShares))
	}
	if c.ReadPostgresURL == "" {
		c.ReadPostgresURL = c.PostgresURL
	}
	if c.BusReplicas > 5 {
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_BUS_REPLICAS: JetStream keeps at most 5 replicas, got %d", c.BusReplicas))
	}
	c.MQTTEnabled = r.bool("FLEETPULSE_MQTT_ENABLED")
	c.MQTTURL = r.str("FLEETPULSE_MQTT_URL")
	c.MQTTShareGroup = r.str("FLEETPULSE_MQTT_SHARE_GROUP")
	c.MQTTTopicRoot = r.str("FLEETPULSE_MQTT_TOPIC_ROOT")
	c.OfflineAfter = r.duration("FLEETPULSE_OFFLINE_AFTER")
	c.Alerting = r.bool("FLEETPULSE_ALERTING")
	c.WebhookAllow = getenv("FLEETPULSE_WEBHOOK_ALLOW")
	c.WebhookDisableAfter = r.int("FLEETPULSE_WEBHOOK_DISABLE_AFTER")
	c.WebhookTimeout = r.duration("FLEETPULSE_WEBHOOK_TIMEOUT")
	c.WebhookRetryMin = r.duration("FLEETPULSE_WEBHOOK_RETRY_MIN")
	c.WebhookRetryMax = r.duration("FLEETPULSE_WEBHOOK_RETRY_MAX")
	c.WebhookLogRetention = r.days("FLEETPULSE_WEBHOOK_LOG_RETENTION")
	c.FeedNATSURL = getenv("FLEETPULSE_FEED_NATS_URL")
	c.FeedNATSPrefix = r.str("FLEETPULSE_FEED_NATS_PREFIX")
	c.RawRetention = r.days("FLEETPULSE_RAW_RETENTION")
	c.HourlyRetention = r.days("FLEETPULSE_HOURLY_RETENTION")
	c.DedupHorizon = r.days("FLEETPULSE_DEDUP_HORIZON")
	c.ImportJobs = r.bool("FLEETPULSE_IMPORT_JOBS")
	c.ImportMaxBytes = int64(r.int("FLEETPULSE_IMPORT_MAX_BYTES"))
	c.ImportBatch = r.int("FLEETPULSE_IMPORT_BATCH")
	c.ImportLease = r.duration("FLEETPULSE_IMPORT_LEASE")
	if c.ImportBatch > 10000 {
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_IMPORT_BATCH: at most 10000 (a command's largest batch), got %d", c.ImportBatch))
	}
	c.ReadCacheBytes = r.nonNegative("FLEETPULSE_READ_CACHE_BYTES")
	c.LiveRetention = r.duration("FLEETPULSE_LIVE_RETENTION")
	c.LiveBuffer = r.int("FLEETPULSE_LIVE_BUFFER")
	c.LiveHeartbeat = r.duration("FLEETPULSE_LIVE_HEARTBEAT")
	c.ArchiveURL = getenv("FLEETPULSE_ARCHIVE_URL")
	c.ArchiveHorizon = r.days("FLEETPULSE_ARCHIVE_HORIZON")
	if v := r.str("FLEETPULSE_ARCHIVE_INTERVAL"); v != "0" {
		c.ArchiveInterval = r.duration("FLEETPULSE_ARCHIVE_INTERVAL")
	}
	c.ArchiveRate = r.nonNegative("FLEETPULSE_ARCHIVE_RATE")
	c.ArchiveFileItems = r.int("FLEETPULSE_ARCHIVE_FILE_ITEMS")
	if c.ArchiveHorizon < c.DedupHorizon {
		// Archived events are no longer searched for first-format
		// duplicates; past the de-duplication horizon none are looked for.
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_ARCHIVE_HORIZON (%s) must be at least FLEETPULSE_DEDUP_HORIZON (%s)", c.ArchiveHorizon, c.DedupHorizon))
	}
	if c.ArchiveInterval > 0 && c.ArchiveURL == "" {
		r.errs = append(r.errs, "FLEETPULSE_ARCHIVE_INTERVAL needs FLEETPULSE_ARCHIVE_URL")
	}
	c.MQTTClientID = getenv("FLEETPULSE_MQTT_CLIENT_ID")
	if c.MQTTClientID == "" {
		host, _ := os.Hostname()
		c.MQTTClientID = "fleetpulse-bridge-" + host
	}
	switch c.CommandBus {
	case "inprocess", "nats", "postgres":
	default:
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_COMMAND_BUS: %q is none of inprocess, nats, postgres", c.CommandBus))
	}
	if h, err := strconv.ParseBool(r.str("FLEETPULSE_COMMAND_API_HANDLERS")); err != nil {
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_COMMAND_API_HANDLERS: want true or false, got %q", r.str("FLEETPULSE_COMMAND_API_HANDLERS")))
	} else {
		c.CommandAPIHandlers = h
	}
	for _, ch := range c.BusPrefix {
		if !(ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
			r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_BUS_PREFIX: %q holds more than letters, digits and underscores", c.BusPrefix))
			break
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.str("FLEETPULSE_LOG_LEVEL"))); err != nil {
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_LOG_LEVEL: %v", err))
	}
	if c.MQTTTopicRoot == "" || strings.ContainsAny(c.MQTTTopicRoot, "/+#$") {
		r.errs = append(r.errs, "FLEETPULSE_MQTT_TOPIC_ROOT must be one topic level without / + # $")
	}
	if err := redact.CheckPostgres(c.PostgresURL); err != nil {
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_PG_URL is %v", err))
	}
	if c.EventStore != "postgres" && c.EventStore != "esdb" {
		r.errs = append(r.errs, fmt.Sprintf("FLEETPULSE_EVENT_STORE: %q is neither postgres nor esdb", c.EventStore))
	}
	if len(r.errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(r.errs, "; "))
	}
	return c, nil
}

// LogValue prints the configuration without its secrets: the admin token
// only as set or unset, every connection string through infra/config/redact.
func (c Config) LogValue() slog.Value {
	masked := "(unset)"
	if c.AdminToken != "" {
		masked = "(set)"
	}
	return slog.GroupValue(
		slog.String("pg_url", redact.Postgres(c.PostgresURL)),
		slog.String("read_pg_url", redact.Postgres(c.ReadPostgresURL)),
		slog.String("event_store", c.EventStore),
		slog.String("esdb_url", redact.URL(c.ESDBURL)),
		slog.String("admin_token", masked),
		slog.String("command_addr", c.CommandAddr),
		slog.String("read_addr", c.ReadAddr),
		slog.Bool("read_auth", !c.ReadAuthOff),
		slog.String("projector_addr", c.ProjectorAddr),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Duration("max_future_skew", c.MaxFutureSkew),
		slog.Int("projector_batch", c.ProjectorBatch),
		slog.Int("projector_shares", c.ProjectorShares),
		slog.Int("projector_share", c.ProjectorShare),
		slog.String("command_bus", c.CommandBus),
		slog.String("nats_url", redact.URL(c.NATSURL)),
		slog.String("bus_prefix", c.BusPrefix),
		slog.Int("bus_replicas", c.BusReplicas),
		slog.Bool("mqtt_enabled", c.MQTTEnabled),
		slog.Bool("alerting", c.Alerting),
		slog.String("webhook_allow", c.WebhookAllow),
		slog.Int("webhook_disable_after", c.WebhookDisableAfter),
		slog.String("feed_nats_url", redact.URL(c.FeedNATSURL)),
		slog.Duration("raw_retention", c.RawRetention),
		slog.Duration("hourly_retention", c.HourlyRetention),
		slog.Duration("dedup_horizon", c.DedupHorizon),
		slog.Bool("import_jobs", c.ImportJobs),
		slog.Int64("import_max_bytes", c.ImportMaxBytes),
		slog.String("archive_url", redact.URL(c.ArchiveURL)),
		slog.Duration("archive_horizon", c.ArchiveHorizon),
		slog.Duration("archive_interval", c.ArchiveInterval),
		slog.String("mqtt_url", redact.URL(c.MQTTURL)),
		slog.String("mqtt_topic_root", c.MQTTTopicRoot),
	)
}

type reader struct {
	getenv   func(string) string
	defaults map[string]string
	errs     []string
}

func (r *reader) str(name string) string {
	if v := r.getenv(name); v != "" {
		return v
	}
	return r.defaults[name]
}

func (r *reader) int(name string) int {
	v, err := strconv.Atoi(r.str(name))
	if err != nil || v <= 0 {
		r.errs = append(r.errs, fmt.Sprintf("%s: want a positive integer, got %q", name, r.str(name)))
	}
	return v
}

func (r *reader) nonNegative(name string) int {
	v, err := strconv.Atoi(r.str(name))
	if err != nil || v < 0 {
		r.errs = append(r.errs, fmt.Sprintf("%s: want a whole number from 0, got %q", name, r.str(name)))
	}
	return v
}

func (r *reader) bool(name string) bool {
	v, err := strconv.ParseBool(r.str(name))
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("%s: want true or false, got %q", name, r.str(name)))
	}
	return v
}

// days reads a duration that may also be a number of days ("90d").
func (r *reader) days(name string) time.Duration {
	v := r.str(name)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d > 0 {
			return time.Duration(d) * 24 * time.Hour
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.errs = append(r.errs, fmt.Sprintf("%s: want a positive duration like 90d or 36h, got %q", name, v))
	}
	return d
}

// CorrectionWindow is how long after its measured time a measurement may
// still be corrected: while every bucket it counts in (its local day, at
// most 26 hours, or an operator bucket of at most a day) is still whole in
// the raw read model.
func (c Config) CorrectionWindow() time.Duration {
	return max(c.RawRetention-48*time.Hour, c.RawRetention/2)
}

func (r *reader) duration(name string) time.Duration {
	v, err := time.ParseDuration(r.str(name))
	if err != nil || v <= 0 {
		r.errs = append(r.errs, fmt.Sprintf("%s: want a positive duration like 15s, got %q", name, r.str(name)))
	}
	return v
}
