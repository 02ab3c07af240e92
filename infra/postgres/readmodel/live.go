package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// CommitChannel is the PostgreSQL notification channel the writer of the
// live read models notifies, inside each commit's transaction, of what the
// commit touched. PostgreSQL delivers a notification only once its
// transaction commits, and to every listening session, whichever process:
// the read API learns of each commit right after it is visible.
const CommitChannel = "fleetpulse_read_models"

// maxNotifyPayload stays under PostgreSQL's 8,000-byte payload limit; a
// commit that touched more devices than fit says "all" instead.
const maxNotifyPayload = 7800

// DefaultLiveRetention is how long the writer keeps each commit's changes
// for live push and its resumption.
const DefaultLiveRetention = 10 * time.Minute

const (
	notifySQL = `SELECT pg_notify($1, $2)`
	// recordLiveSQL replaces what an earlier projection of the same
	// positions recorded (a checkpoint reset or a rebuild projects them again).
	recordLiveSQL = `
INSERT INTO rm_live_changes AS l (share, commit_pos, prepare_pos, device_id, data)
SELECT $1, $2, $3, d, x FROM unnest($4::text[], $5::bytea[]) AS u(d, x)
ON CONFLICT (commit_pos, prepare_pos, device_id) DO UPDATE SET share = excluded.share, data = excluded.data, committed_at = excluded.committed_at`
	pruneLiveSQL      = `DELETE FROM rm_live_changes WHERE share = $1 AND (commit_pos, prepare_pos) <= ($2, $3)`
	pruneLiveOldSQL   = `DELETE FROM rm_live_changes WHERE share = $1 AND committed_at < $2 RETURNING commit_pos, prepare_pos`
	raiseLiveFloorSQL = `
INSERT INTO rm_live_floors AS f (share, commit_pos, prepare_pos) VALUES ($1, $2, $3)
ON CONFLICT (share) DO UPDATE SET commit_pos = excluded.commit_pos, prepare_pos = excluded.prepare_pos
WHERE (f.commit_pos, f.prepare_pos) < (excluded.commit_pos, excluded.prepare_pos)`
	// liveHeadsSQL: each share that has kept changes or pruned some, with
	// its floor and its newest kept position (one index probe per share).
	liveHeadsSQL = `
SELECT s.share, coalesce(f.commit_pos, 0), coalesce(f.prepare_pos, 0),
       coalesce(h.commit_pos, f.commit_pos, 0), coalesce(h.prepare_pos, f.prepare_pos, 0)
FROM generate_series(0, $1 - 1) AS s(share)
LEFT JOIN rm_live_floors f ON f.share = s.share
LEFT JOIN LATERAL (SELECT commit_pos, prepare_pos FROM rm_live_changes c WHERE c.share = s.share
                   ORDER BY commit_pos DESC, prepare_pos DESC LIMIT 1) h ON true
WHERE f.share IS NOT NULL OR h.commit_pos IS NOT NULL`
	liveFloorSQL        = `SELECT commit_pos, prepare_pos FROM rm_live_floors WHERE share = $1`
	projectionSharesSQL = `SELECT coalesce((SELECT shares FROM projection_shares WHERE projection = $1), 1)`
	liveChangesSQL      = `
SELECT commit_pos, prepare_pos, device_id, committed_at, data FROM rm_live_changes
WHERE share = $4 AND (commit_pos, prepare_pos) > ($1, $2)
ORDER BY commit_pos, prepare_pos, device_id LIMIT $3`
	liveChangesAfterDeviceSQL = `
SELECT commit_pos, prepare_pos, device_id, committed_at, data FROM rm_live_changes
WHERE share = $5 AND (commit_pos, prepare_pos, device_id) > ($1, $2, $4)
ORDER BY commit_pos, prepare_pos, device_id LIMIT $3`
	liveDeviceChangesSQL = `
SELECT commit_pos, prepare_pos, device_id, committed_at, data FROM rm_live_changes
WHERE device_id = ANY($3) AND (commit_pos, prepare_pos) > ($1, $2)
ORDER BY commit_pos, prepare_pos, device_id LIMIT $4`
)

// commitNotice is a notification's payload: the new checkpoint and the
// devices the commit touched, or All.
type commitNotice struct {
	Share   int      `json:"s,omitempty"`
	Commit  uint64   `json:"c"`
	Prepare uint64   `json:"p"`
	Devices []string `json:"d,omitempty"`
	All     bool     `json:"a,omitempty"`
}

// liveData is what rm_live_changes.data holds: the read API's own shapes.
type liveData struct {
	Points []readapi.LivePoint    `json:"points,omitempty"`
	Events []readapi.VehicleEvent `json:"events,omitempty"`
	Alerts []readapi.Alert        `json:"alerts,omitempty"`
}

// livePruner remembers when each share's recent commits happened, so the
// writer prunes rm_live_changes by position (its primary key) rather than
// by time.
type livePruner struct {
	mu     sync.Mutex
	shares map[int]*sharePruner
}

type sharePruner struct {
	started bool
	commits []prunable
}

type prunable struct {
	at  time.Time
	pos domain.Position
}

// recordLive writes, in the commit's transaction, what it changed per
// device, prunes changes older than the live retention, and notifies
// CommitChannel.
func (s *Writer) recordLive(ctx context.Context, tx pgx.Tx, share int, to domain.Position, c *projections.Changes) error {
	perDevice := map[string]*liveData{}
	data := func(id string) *liveData {
		d := perDevice[id]
		if d == nil {
			d = &liveData{}
			perDevice[id] = d
		}
		return d
	}
	for _, m := range c.Measurements {
		d := data(m.DeviceID)
		d.Points = append(d.Points, readapi.LivePoint{Type: m.Type, MeasuredAt: m.MeasuredAt.UTC(), Value: m.Value})
	}
	for _, v := range c.VehicleEvents {
		e := readapi.VehicleEvent{EID: v.EID, Type: v.Type, OccurredAt: v.OccurredAt.UTC(), Data: v.Data}
		if v.Readings != nil {
			r, err := json.Marshal(v.Readings)
			if err != nil {
				return fmt.Errorf("encode live readings: %w", err)
			}
			e.Readings = r
		}
		if v.Location != nil {
			e.Location = &readapi.Location{Lat: v.Location.Lat, Lon: v.Location.Lon}
		}
		d := data(v.DeviceID)
		d.Events = append(d.Events, e)
	}
	for _, k := range c.SortedAlerts() {
		a := c.Alerts[k]
		d := data(k.DeviceID)
		d.Alerts = append(d.Alerts, readapi.Alert{DeviceID: k.DeviceID, Rule: k.Rule, Type: a.Type, RaisedAt: k.RaisedAt.UTC(),
			ClearedAt: a.ClearedAt, Active: a.ClearedAt == nil, Value: a.Value, Threshold: a.Threshold})
	}
	ids := make([]string, 0, len(perDevice))
	for id := range perDevice {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		data := make([][]byte, len(ids))
		for i, id := range ids {
			b, err := json.Marshal(perDevice[id])
			if err != nil {
				return fmt.Errorf("encode live changes: %w", err)
			}
			data[i] = b
		}
		if _, err := tx.Exec(ctx, recordLiveSQL, share, int64(to.Commit), int64(to.Prepare), ids, data); err != nil {
			return fmt.Errorf("record live changes: %w", err)
		}
	}
	if err := s.pruneLive(ctx, tx, share, to); err != nil {
		return err
	}
	payload, err := noticePayload(share, to, touchedDevices(c, ids))
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, notifySQL, CommitChannel, payload); err != nil {
		return fmt.Errorf("notify commit: %w", err)
	}
	return nil
}

// pruneLive drops the share's changes committed longer than the live
// retention ago: by time once per process start (what an earlier process
// left), then by the positions of this process's own commits. Each share
// prunes only its own: another share's positions are not comparable.
func (s *Writer) pruneLive(ctx context.Context, tx pgx.Tx, share int, to domain.Position) error {
	now := s.clock()
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if s.live.shares == nil {
		s.live.shares = map[int]*sharePruner{}
	}
	p := s.live.shares[share]
	if p == nil {
		p = &sharePruner{}
		s.live.shares[share] = p
	}
	floor := domain.Position{}
	if !p.started {
		rows, err := tx.Query(ctx, pruneLiveOldSQL, share, now.Add(-s.liveRetention))
		if err != nil {
			return fmt.Errorf("prune live changes: %w", err)
		}
		var c, pp int64
		if _, err := pgx.ForEachRow(rows, []any{&c, &pp}, func() error {
			if q := (domain.Position{Commit: uint64(c), Prepare: uint64(pp)}); floor.Less(q) {
				floor = q
			}
			return nil
		}); err != nil {
			return fmt.Errorf("prune live changes: %w", err)
		}
	}
	n := 0
	for n < len(p.commits) && now.Sub(p.commits[n].at) > s.liveRetention {
		n++
	}
	if n > 0 {
		if q := p.commits[n-1].pos; floor.Less(q) {
			floor = q
		}
		if _, err := tx.Exec(ctx, pruneLiveSQL, share, int64(floor.Commit), int64(floor.Prepare)); err != nil {
			return fmt.Errorf("prune live changes: %w", err)
		}
	}
	if floor != (domain.Position{}) {
		if _, err := tx.Exec(ctx, raiseLiveFloorSQL, share, int64(floor.Commit), int64(floor.Prepare)); err != nil {
			return fmt.Errorf("raise live floor: %w", err)
		}
	}
	// Only once the transaction is sure to commit would this be exact; a
	// failed batch leaves a pruned position remembered as pruned, which
	// only means it is pruned again (a no-op) next time.
	p.started = true
	p.commits = append(p.commits[n:], prunable{at: now, pos: to})
	return nil
}

// touchedDevices is every device whose read models the batch changed.
func touchedDevices(c *projections.Changes, withData []string) []string {
	set := map[string]struct{}{}
	for _, id := range withData {
		set[id] = struct{}{}
	}
	for _, d := range c.Devices {
		set[d.DeviceID] = struct{}{}
	}
	for k := range c.Daily {
		set[k.DeviceID] = struct{}{}
	}
	for k := range c.Latest {
		set[k.DeviceID] = struct{}{}
	}
	for id := range c.Status {
		set[id] = struct{}{}
	}
	for _, h := range c.History {
		set[h.DeviceID] = struct{}{}
	}
	for _, corr := range c.Corrections {
		set[corr.DeviceID] = struct{}{}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func noticePayload(share int, to domain.Position, devices []string) (string, error) {
	n := commitNotice{Share: share, Commit: to.Commit, Prepare: to.Prepare, Devices: devices}
	b, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("encode commit notice: %w", err)
	}
	if len(b) > maxNotifyPayload {
		b, _ = json.Marshal(commitNotice{Share: share, Commit: to.Commit, Prepare: to.Prepare, All: true})
	}
	return string(b), nil
}

// NotifyAll tells every listener that any read model may have changed
// (after a rebuild's swap, or expired partitions were dropped).
func NotifyAll(ctx context.Context, pool interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}) error {
	b, _ := json.Marshal(commitNotice{All: true})
	_, err := pool.Exec(ctx, notifySQL, CommitChannel, string(b))
	return postgres.Classify(err)
}

// LiveChanges returns share's changes after the cursor, in log order
// (readapi.LiveStore).
func (q *Queries) LiveChanges(ctx context.Context, share int, after domain.Position, afterDevice string, limit int) ([]readapi.LiveChange, error) {
	if afterDevice != "" {
		return q.liveChanges(ctx, liveChangesAfterDeviceSQL, []any{int64(after.Commit), int64(after.Prepare), limit, afterDevice, share})
	}
	return q.liveChanges(ctx, liveChangesSQL, []any{int64(after.Commit), int64(after.Prepare), limit, share})
}

// DeviceLiveChanges returns device's changes after after, in log order
// (readapi.LiveStore).
func (q *Queries) DeviceLiveChanges(ctx context.Context, device string, after domain.Position, limit int) ([]readapi.LiveChange, error) {
	return q.liveChanges(ctx, liveDeviceChangesSQL, []any{int64(after.Commit), int64(after.Prepare), []string{device}, limit})
}

func (q *Queries) liveChanges(ctx context.Context, sql string, args []any) ([]readapi.LiveChange, error) {
	var (
		out         []readapi.LiveChange
		commit, pre int64
		id          string
		at          time.Time
		raw         []byte
	)
	err := q.each(ctx, "read live changes", sql, args, []any{&commit, &pre, &id, &at, &raw}, func() error {
		var d liveData
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("decode live change: %w", err)
		}
		out = append(out, readapi.LiveChange{Position: domain.Position{Commit: uint64(commit), Prepare: uint64(pre)},
			DeviceID: id, CommittedAt: at, Points: d.Points, Events: d.Events, Alerts: d.Alerts})
		return nil
	})
	return out, err
}

// LiveHeads returns the newest position kept (or else pruned) of each share
// that recorded changes (readapi.LiveStore).
func (q *Queries) LiveHeads(ctx context.Context) (map[int]domain.Position, error) {
	heads := map[int]domain.Position{}
	var (
		share          int
		fc, fp, hc, hp int64
	)
	err := q.each(ctx, "read live heads", liveHeadsSQL, []any{projections.MaxShares}, []any{&share, &fc, &fp, &hc, &hp}, func() error {
		heads[share] = domain.Position{Commit: uint64(hc), Prepare: uint64(hp)}
		return nil
	})
	return heads, err
}

// LiveDevice returns the share whose projector records device's changes,
// by the projection's stored share count, and the newest position that
// share has pruned (readapi.LiveStore).
func (q *Queries) LiveDevice(ctx context.Context, device string) (int, domain.Position, error) {
	var shares int
	if err := q.pool.QueryRow(ctx, projectionSharesSQL, projections.ReadModels).Scan(&shares); err != nil {
		return 0, domain.Position{}, postgres.Classify(fmt.Errorf("read share count: %w", err))
	}
	share := projections.ShareOf(device, shares)
	var fc, fp int64
	err := q.pool.QueryRow(ctx, liveFloorSQL, share).Scan(&fc, &fp)
	if errors.Is(err, pgx.ErrNoRows) {
		return share, domain.Position{}, nil
	}
	if err != nil {
		return 0, domain.Position{}, postgres.Classify(fmt.Errorf("read live floor: %w", err))
	}
	return share, domain.Position{Commit: uint64(fc), Prepare: uint64(fp)}, nil
}

// CommitListener listens to CommitChannel on a connection of its own
// (readapi.CommitListener).
type CommitListener struct {
	connString string
	logger     *slog.Logger
	retry      time.Duration
}

var _ readapi.CommitListener = (*CommitListener)(nil)

// NewCommitListener returns a listener that connects to connString (the
// primary: a hot standby hears no notifications).
func NewCommitListener(connString string, logger *slog.Logger) *CommitListener {
	return &CommitListener{connString: connString, logger: logger, retry: time.Second}
}

// Listen listens until ctx ends, connecting again after each failure.
func (l *CommitListener) Listen(ctx context.Context, connected, disconnected func(), commit func(readapi.Commit)) error {
	for ctx.Err() == nil {
		err := l.session(ctx, connected, commit)
		disconnected()
		if ctx.Err() != nil {
			return nil
		}
		l.logger.Warn("commit notifications lost; connecting again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(l.retry):
		}
	}
	return nil
}

func (l *CommitListener) session(ctx context.Context, connected func(), commit func(readapi.Commit)) error {
	conn, err := pgx.Connect(ctx, l.connString)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{CommitChannel}.Sanitize()); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		c, err := parseCommitNotice(n.Payload)
		if err != nil {
			// Say "all" rather than miss what it touched.
			l.logger.Warn("unreadable commit notification", "err", err)
			c = readapi.Commit{All: true}
		}
		commit(c)
	}
}

// parseCommitNotice reads a notification's payload.
func parseCommitNotice(payload string) (readapi.Commit, error) {
	var n commitNotice
	dec := json.NewDecoder(strings.NewReader(payload))
	if err := dec.Decode(&n); err != nil {
		return readapi.Commit{}, fmt.Errorf("commit notice %s: %w", strconv.Quote(truncate(payload, 64)), err)
	}
	if dec.More() {
		return readapi.Commit{}, errors.New("commit notice: trailing data")
	}
	if n.Share < 0 || n.Share >= projections.MaxShares {
		return readapi.Commit{}, fmt.Errorf("commit notice: share %d out of range", n.Share)
	}
	return readapi.Commit{Share: n.Share, Position: domain.Position{Commit: n.Commit, Prepare: n.Prepare}, Devices: n.Devices, All: n.All}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
