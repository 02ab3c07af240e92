// Package readmodel is the PostgreSQL side of fleetpulse's read models: the
// writer projectors commit batches and checkpoints through (writer.go),
// exact recomputation after corrections (corrections.go), shadow rebuilds
// and their promotion (rebuild.go; one share's in rebuild_share.go), the
// share count of a partitioned projection (shares.go), operator-defined
// bucket projections (buckets.go), where each projection stands
// (status.go), and the queries
// the read API asks through its port, readapi.Store (Queries, query*.go).
// It owns the read-model tables and their migrations (00002 onwards), and
// never touches the event log's tables.
package readmodel

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
	"github.com/fleetpulse/fleetpulse/projections"
)

const (
	ensureCheckpointSQL = `INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`
	readCheckpointSQL   = `SELECT commit_pos, prepare_pos FROM projection_checkpoints WHERE name = $1`
	// moveCheckpointSQL moves the checkpoint only from where the projector
	// read it: a second projector of the same name updates no row and backs off.
	moveCheckpointSQL = `
UPDATE projection_checkpoints
SET commit_pos = $4, prepare_pos = $5, events = events + $6, updated_at = now()
WHERE name = $1 AND commit_pos = $2 AND prepare_pos = $3`

	deviceZonesSQL = `SELECT device_id, timezone FROM rm_devices`

	registerStationSQL = `
INSERT INTO rm_devices (device_id, kind, name, lat, lon, timezone, version, registered_at, updated_at)
VALUES ($1, 'station', $2, $3, $4, $5, $6, $7, $7)
ON CONFLICT (device_id) DO UPDATE SET kind = 'station', name = $2, lat = $3, lon = $4, timezone = $5, version = $6, updated_at = $7`
	updateStationSQL = `
UPDATE rm_devices SET name = $2, lat = $3, lon = $4, timezone = $5, version = $6, updated_at = $7 WHERE device_id = $1`
	registerVehicleSQL = `
INSERT INTO rm_devices (device_id, kind, name, vin, plate, model, timezone, version, registered_at, updated_at)
VALUES ($1, 'vehicle', $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (device_id) DO UPDATE SET kind = 'vehicle', name = $2, vin = $3, plate = $4, model = $5, timezone = $6, version = $7, updated_at = $8`
	updateVehicleSQL = `
UPDATE rm_devices SET name = $2, vin = $3, plate = $4, model = $5, timezone = $6, version = $7, updated_at = $8 WHERE device_id = $1`
	decommissionSQL = `UPDATE rm_devices SET decommissioned = true, version = $2, updated_at = $3 WHERE device_id = $1`
	touchDeviceSQL  = `UPDATE rm_devices SET version = $2, updated_at = $3 WHERE device_id = $1`

	// upsertDailySQL adds a batch's pre-grouped buckets to the stored ones.
	upsertDailySQL = `
INSERT INTO rm_daily AS d (device_id, name, day, count, sum, min, max)
SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[], $5::float8[], $6::float8[], $7::float8[])
ON CONFLICT (device_id, name, day) DO UPDATE SET
    count = d.count + excluded.count,
    sum   = d.sum + excluded.sum,
    min   = least(d.min, excluded.min),
    max   = greatest(d.max, excluded.max)`

	upsertHourlySQL = `
INSERT INTO rm_hourly AS h (device_id, name, hour, count, sum, min, max)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::float8[], $6::float8[], $7::float8[])
ON CONFLICT (device_id, name, hour) DO UPDATE SET
    count = h.count + excluded.count,
    sum   = h.sum + excluded.sum,
    min   = least(h.min, excluded.min),
    max   = greatest(h.max, excluded.max)`

	upsertBucketsSQL = `
INSERT INTO rm_buckets AS b (projection, device_id, name, start, count, sum, min, max)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::float8[], $7::float8[], $8::float8[])
ON CONFLICT (projection, device_id, name, start) DO UPDATE SET
    count = b.count + excluded.count,
    sum   = b.sum + excluded.sum,
    min   = least(b.min, excluded.min),
    max   = greatest(b.max, excluded.max)`

	// upsertLatestSQL keeps the value with the newest measured time; of two
	// at the same instant, the one projected later.
	upsertLatestSQL = `
INSERT INTO rm_latest AS l (device_id, name, value, measured_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::timestamptz[])
ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value, measured_at = excluded.measured_at
WHERE excluded.measured_at >= l.measured_at`
)

// Alerts keep the values they were raised with; a clear only ends them.
const (
	upsertAlertsSQL = `
INSERT INTO rm_alerts AS a (device_id, rule, raised_at, type, value, threshold, cleared_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::float8[], $6::float8[], $7::timestamptz[])
ON CONFLICT (device_id, rule, raised_at) DO UPDATE SET cleared_at = coalesce(excluded.cleared_at, a.cleared_at)`
	// A read key created twice (a batch projected again after a crash)
	// stays as first created; a revocation stays the first one.
	insertReadKeySQL = `
INSERT INTO rm_read_keys (key_id, name, devices, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key_id) DO NOTHING`
	revokeReadKeySQL = `UPDATE rm_read_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL`
	upsertStatusSQL  = `
INSERT INTO rm_device_status AS s (device_id, online, last_measured_at, since)
SELECT * FROM unnest($1::text[], $2::bool[], $3::timestamptz[], $4::timestamptz[])
ON CONFLICT (device_id) DO UPDATE SET online = excluded.online, last_measured_at = excluded.last_measured_at, since = excluded.since`
)

// Tables are the tables of the read models, in the order a rebuild
// creates them.
var Tables = []string{"rm_devices", "rm_measurement_chunks", "rm_vehicle_event_chunks", "rm_vehicle_event_ids", "rm_daily", "rm_hourly", "rm_latest", "rm_device_history", "rm_measurement_revisions", "rm_buckets", "rm_alerts", "rm_device_status", "rm_read_keys"}

// WriterConfig tunes a Writer.
type WriterConfig struct {
	// Retention of the time-partitioned read models: rows older than it
	// are counted in the aggregates and not kept (see Retention).
	Retention Retention
	// Clock tells the time retention is measured from (default time.Now).
	Clock func() time.Time
	// LiveRetention is how long each commit's changes are kept for live
	// push to resume from (default DefaultLiveRetention).
	LiveRetention time.Duration
}

// Writer writes the read models for projectors (projections.ReadModelStore)
// and the checkpoints of the alerting forwarder and evaluator: the live
// tables, or a shadow set (same tables with a suffix) that a rebuild fills.
type Writer struct {
	pool      database
	suffix    string
	rename    *strings.Replacer
	codec     *rawchunk.Codec
	retention Retention
	span      time.Duration // of a chunk
	clock     func() time.Time
	parts     *partitionCache
	// live prunes rm_live_changes; the live tables' writer records each
	// commit's changes there and notifies CommitChannel.
	live          *livePruner
	liveRetention time.Duration
}

// NewWriter returns the writer of the live read-model tables, on a pool
// whose schema has Migrations applied.
func NewWriter(pool *pgxpool.Pool, cfg WriterConfig) (*Writer, error) {
	return newWriter(pool, "", cfg)
}

// database is what a Writer runs statements on: a pool, or the transaction
// of a migration.
type database interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func newWriter(pool database, suffix string, cfg WriterConfig) (*Writer, error) {
	codec, err := rawchunk.New()
	if err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	var pairs []string
	if suffix != "" {
		for _, t := range Tables {
			pairs = append(pairs, t, t+suffix)
		}
	}
	if cfg.LiveRetention <= 0 {
		cfg.LiveRetention = DefaultLiveRetention
	}
	r := cfg.Retention.WithDefaults()
	return &Writer{pool: pool, suffix: suffix, rename: strings.NewReplacer(pairs...), codec: codec,
		retention: r, span: SpanWidth(r), clock: cfg.Clock, parts: newPartitionCache(),
		live: &livePruner{}, liveRetention: cfg.LiveRetention}, nil
}

// sql points a statement at this store's tables.
func (s *Writer) sql(q string) string {
	if s.suffix == "" {
		return q
	}
	return s.rename.Replace(q)
}

func (s *Writer) table(name string) pgx.Identifier { return pgx.Identifier{name + s.suffix} }

// Checkpoint returns where projection name stands.
func (s *Writer) Checkpoint(ctx context.Context, name string) (domain.Position, error) {
	if _, err := s.pool.Exec(ctx, ensureCheckpointSQL, name); err != nil {
		return domain.Position{}, postgres.Classify(fmt.Errorf("create checkpoint %s: %w", name, err))
	}
	var commit, prepare int64
	if err := s.pool.QueryRow(ctx, readCheckpointSQL, name).Scan(&commit, &prepare); err != nil {
		return domain.Position{}, postgres.Classify(fmt.Errorf("read checkpoint %s: %w", name, err))
	}
	return domain.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, nil
}

// DeviceZones returns every projected device's time zone name.
func (s *Writer) DeviceZones(ctx context.Context) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, s.sql(deviceZonesSQL))
	if err != nil {
		return nil, postgres.Classify(err)
	}
	zones := map[string]string{}
	var id, zone string
	_, err = pgx.ForEachRow(rows, []any{&id, &zone}, func() error {
		zones[id] = zone
		return nil
	})
	return zones, postgres.Classify(err)
}

// Apply commits a batch's changes and the new checkpoint in one transaction.
// Raw items measured before the raw retention, and hourly aggregates
// before the hourly one, are left out (the daily aggregates count them);
// partitions the rest needs are made first.
func (s *Writer) Apply(ctx context.Context, name string, from, to domain.Position, c *projections.Changes) error {
	now := s.clock()
	rawFloor, hourlyFloor := now.Add(-s.retention.Raw), now.Add(-s.retention.Hourly)
	mchunks, err := s.measurementChunks(c.Measurements, rawFloor)
	if err != nil {
		return err
	}
	vchunks, err := s.vehicleChunks(c.VehicleEvents, rawFloor)
	if err != nil {
		return err
	}
	hours := c.SortedHourly()
	hours = slices.DeleteFunc(hours, func(k projections.HourKey) bool { return k.Hour.Before(hourlyFloor) })
	if err := s.ensurePartitions(ctx, mchunks, vchunks, hours); err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, moveCheckpointSQL, name, int64(from.Commit), int64(from.Prepare),
			int64(to.Commit), int64(to.Prepare), c.Events)
		if err != nil {
			return fmt.Errorf("move checkpoint: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("projection %s from %s: %w", name, from, projections.ErrCheckpointMoved)
		}
		b := &pgx.Batch{}
		for _, d := range c.Devices {
			s.queueDeviceChange(b, d)
		}
		s.queueDaily(b, c)
		s.queueHourly(b, c, hours)
		s.queueBuckets(b, c)
		s.queueLatest(b, c)
		s.queueAlerts(b, c)
		s.queueReadKeys(b, c)
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return fmt.Errorf("write aggregates: %w", err)
			}
		}
		if err := s.copyMeasurementChunks(ctx, tx, mchunks); err != nil {
			return err
		}
		if err := s.copyVehicleChunks(ctx, tx, vchunks); err != nil {
			return err
		}
		if err := s.copyHistory(ctx, tx, c.History); err != nil {
			return err
		}
		for _, corr := range c.Corrections {
			if err := s.applyCorrection(ctx, tx, corr, rawFloor); err != nil {
				return err
			}
		}
		projection, share, ok := projections.ShareOfCheckpoint(name)
		if s.suffix != "" || !ok || projection != projections.ReadModels {
			// A shadow being rebuilt (nobody reads it yet), or another
			// reader of the log keeping its checkpoint here (the alerting
			// forwarder): its positions are not the read models'.
			return nil
		}
		return s.recordLive(ctx, tx, share.Index, to, c)
	})
	if err != nil {
		// A partition dropped or made by another process meanwhile: look
		// again next time.
		s.parts.forget()
	}
	return postgres.Classify(err)
}

func (s *Writer) queueDeviceChange(b *pgx.Batch, d projections.DeviceChange) {
	switch e := d.Event.(type) {
	case domain.StationRegistered:
		b.Queue(s.sql(registerStationSQL), d.DeviceID, e.Name, e.Location.Lat, e.Location.Lon, e.TimeZone, d.Version, d.At)
	case domain.StationUpdated:
		b.Queue(s.sql(updateStationSQL), d.DeviceID, e.Name, e.Location.Lat, e.Location.Lon, e.TimeZone, d.Version, d.At)
	case domain.VehicleRegistered:
		b.Queue(s.sql(registerVehicleSQL), d.DeviceID, e.Name, e.VIN, e.Plate, e.Model, e.TimeZone, d.Version, d.At)
	case domain.VehicleUpdated:
		b.Queue(s.sql(updateVehicleSQL), d.DeviceID, e.Name, e.VIN, e.Plate, e.Model, e.TimeZone, d.Version, d.At)
	case domain.DeviceDecommissioned:
		b.Queue(s.sql(decommissionSQL), d.DeviceID, d.Version, d.At)
	default:
		b.Queue(s.sql(touchDeviceSQL), d.DeviceID, d.Version, d.At)
	}
}

// bucketColumns turns pre-grouped buckets into the column arrays an
// unnest upsert takes: device, name, bucket start, then the aggregates.
type bucketColumns struct {
	devices, names   []string
	starts           []time.Time
	counts           []int64
	sums, mins, maxs []float64
}

func columnsOf[K any](keys []K, agg func(K) (device, name string, start time.Time, a *projections.Aggregate)) bucketColumns {
	n := len(keys)
	c := bucketColumns{devices: make([]string, n), names: make([]string, n), starts: make([]time.Time, n),
		counts: make([]int64, n), sums: make([]float64, n), mins: make([]float64, n), maxs: make([]float64, n)}
	for i, k := range keys {
		var a *projections.Aggregate
		c.devices[i], c.names[i], c.starts[i], a = agg(k)
		c.counts[i], c.sums[i], c.mins[i], c.maxs[i] = a.Count, a.Sum, a.Min, a.Max
	}
	return c
}

func (c bucketColumns) args() []any {
	return []any{c.devices, c.names, c.starts, c.counts, c.sums, c.mins, c.maxs}
}

func (s *Writer) queueDaily(b *pgx.Batch, c *projections.Changes) {
	if len(c.Daily) == 0 {
		return
	}
	cols := columnsOf(c.SortedDaily(), func(k projections.DayKey) (string, string, time.Time, *projections.Aggregate) {
		return k.DeviceID, k.Name, k.Day, c.Daily[k]
	})
	b.Queue(s.sql(upsertDailySQL), cols.args()...)
}

func (s *Writer) queueHourly(b *pgx.Batch, c *projections.Changes, hours []projections.HourKey) {
	if len(hours) == 0 {
		return
	}
	cols := columnsOf(hours, func(k projections.HourKey) (string, string, time.Time, *projections.Aggregate) {
		return k.DeviceID, k.Name, k.Hour, c.Hourly[k]
	})
	b.Queue(s.sql(upsertHourlySQL), cols.args()...)
}

func (s *Writer) queueBuckets(b *pgx.Batch, c *projections.Changes) {
	if len(c.Buckets) == 0 {
		return
	}
	keys := c.SortedBuckets()
	specs := make([]string, len(keys))
	for i, k := range keys {
		specs[i] = k.Spec
	}
	cols := columnsOf(keys, func(k projections.BucketKey) (string, string, time.Time, *projections.Aggregate) {
		return k.DeviceID, k.Name, k.Start, c.Buckets[k]
	})
	b.Queue(s.sql(upsertBucketsSQL), append([]any{specs}, cols.args()...)...)
}

func (s *Writer) queueLatest(b *pgx.Batch, c *projections.Changes) {
	if len(c.Latest) == 0 {
		return
	}
	keys := c.SortedLatest()
	n := len(keys)
	devices, names := make([]string, n), make([]string, n)
	values := make([]float64, n)
	ats := make([]time.Time, n)
	for i, k := range keys {
		p := c.Latest[k]
		devices[i], names[i], values[i], ats[i] = k.DeviceID, k.Name, p.Value, p.At
	}
	b.Queue(s.sql(upsertLatestSQL), devices, names, values, ats)
}

func (s *Writer) queueAlerts(b *pgx.Batch, c *projections.Changes) {
	if n := len(c.Alerts); n > 0 {
		devices, rules, types := make([]string, n), make([]string, n), make([]string, n)
		raised := make([]time.Time, n)
		cleared := make([]*time.Time, n)
		values, thresholds := make([]float64, n), make([]float64, n)
		for i, k := range c.SortedAlerts() {
			a := c.Alerts[k]
			devices[i], rules[i], raised[i], types[i] = k.DeviceID, k.Rule, k.RaisedAt, a.Type
			values[i], thresholds[i], cleared[i] = a.Value, a.Threshold, a.ClearedAt
		}
		b.Queue(s.sql(upsertAlertsSQL), devices, rules, raised, types, values, thresholds, cleared)
	}
	if n := len(c.Status); n > 0 {
		devices := make([]string, n)
		online := make([]bool, n)
		last, since := make([]time.Time, n), make([]time.Time, n)
		for i, id := range c.SortedStatus() {
			st := c.Status[id]
			devices[i], online[i], last[i], since[i] = id, st.Online, st.LastMeasuredAt, st.Since
		}
		b.Queue(s.sql(upsertStatusSQL), devices, online, last, since)
	}
}

// queueReadKeys writes the batch's read-key changes in log order: a key
// created and revoked in one batch ends revoked.
func (s *Writer) queueReadKeys(b *pgx.Batch, c *projections.Changes) {
	for _, k := range c.ReadKeys {
		if k.Revoked {
			b.Queue(s.sql(revokeReadKeySQL), k.KeyID, k.At)
			continue
		}
		b.Queue(s.sql(insertReadKeySQL), k.KeyID, k.Name, k.Devices, k.Hash, k.At)
	}
}

func (s *Writer) copyHistory(ctx context.Context, tx pgx.Tx, rows []projections.HistoryRow) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, s.table("rm_device_history"),
		[]string{"device_id", "commit_pos", "prepare_pos", "event_type", "at", "version", "details"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			return []any{r.DeviceID, int64(r.Position.Commit), int64(r.Position.Prepare), r.EventType, r.At, r.Version, string(r.Details)}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy device history: %w", err)
	}
	return nil
}
