package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/infra/retry"
	"github.com/fleetpulse/fleetpulse/projections"
)

func TestShareOf_IsFNV1aOfTheDeviceIDModuloTheCount(t *testing.T) {
	// Values computed outside Go (32-bit FNV-1a: offset 2166136261, prime
	// 16777619): the hash is part of the deployment's contract.
	for _, tt := range []struct {
		device string
		count  int
		want   int
	}{
		{"st-1", 4, 2532751460 % 4},
		{"st-2", 4, 2583084317 % 4},
		{"veh-0", 4, 3456486689 % 4},
		{"veh-0", 7, 3456486689 % 7},
		{"a", 3, 3826002220 % 3},
		{"st-1", 1, 0},
		{"st-1", 0, 0},
	} {
		if got := projections.ShareOf(tt.device, tt.count); got != tt.want {
			t.Errorf("ShareOf(%q, %d) = %d, want %d", tt.device, tt.count, got, tt.want)
		}
	}
}

func TestShareOfCheckpoint_ReadsBackCheckpointName(t *testing.T) {
	for _, tt := range []struct {
		name       string
		projection string
		share      projections.Share
		ok         bool
	}{
		{"read_models", "read_models", projections.Share{}, true},
		{"read_models/share-0-of-2", "read_models", projections.Share{Index: 0, Count: 2}, true},
		{"read_models/share-3-of-4", "read_models", projections.Share{Index: 3, Count: 4}, true},
		{"read_models/share-4-of-4", "read_models", projections.Share{}, false},
		{"read_models/share-0-of-1", "read_models", projections.Share{}, false},
		{"read_models/share-x-of-2", "read_models", projections.Share{}, false},
		{"read_models/share-1-of-2trailing", "read_models", projections.Share{}, false},
		{"read_models/share-01-of-2", "read_models", projections.Share{}, false},
	} {
		projection, share, ok := projections.ShareOfCheckpoint(tt.name)
		if projection != tt.projection || share != tt.share || ok != tt.ok {
			t.Errorf("ShareOfCheckpoint(%q) = %q, %v, %v; want %q, %v, %v", tt.name, projection, share, ok, tt.projection, tt.share, tt.ok)
		}
		if ok && tt.share.CheckpointName(projection) != tt.name {
			t.Errorf("%q does not read back", tt.name)
		}
	}
}

func TestShare_OwnsTheEventsOfItsDevicesStreams(t *testing.T) {
	share := projections.Share{Index: projections.ShareOf("st-2", 4), Count: 4}
	other := projections.Share{Index: (share.Index + 1) % 4, Count: 4}
	for _, tt := range []struct {
		stream      string
		share, othr bool
	}{
		{domain.TelemetryStream("st-2"), true, false},
		{domain.DeviceStream("st-2"), true, false},
		{domain.AlertStream("st-2"), true, false},
		{"elsewhere", share.Index == 0, other.Index == 0}, // not a device's stream: share 0's
	} {
		r := domain.RecordedEvent{StreamID: tt.stream}
		if share.Owns(r) != tt.share || other.Owns(r) != tt.othr {
			t.Errorf("%s: owned by %s %v, by %s %v; want %v, %v", tt.stream, share, share.Owns(r), other, other.Owns(r), tt.share, tt.othr)
		}
	}
	if !(projections.Share{}).Owns(domain.RecordedEvent{StreamID: "anything"}) {
		t.Error("the zero share does not own every event")
	}
	for _, bad := range []projections.Share{{Index: 4, Count: 4}, {Index: -1, Count: 2}, {Index: 1, Count: 1}, {Count: projections.MaxShares + 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v is valid", bad)
		}
	}
}

// shareProjector projects share i of n.
func (e env) shareProjector(i, n int, store projections.ReadModelStore) *projections.Projector {
	if store == nil {
		store = e.rms
	}
	return projections.NewProjector(e.store, noWait{}, store, quiet, projections.Config{BatchSize: 40,
		Share: projections.Share{Index: i, Count: n}, Retry: retry.Doubling(100*time.Millisecond, 5*time.Second)})
}

// catchUpShares runs the n share projectors side by side to the head.
func (e env) catchUpShares(t *testing.T, n int) {
	t.Helper()
	head := e.head(t)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.shareProjector(i, n, nil).CatchUp(context.Background(), head)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("catch up %d shares: %v", n, err)
	}
}

// shareFleet registers eight stations in several zones (every share of 4
// owns some) and records measurements for each.
func (e env) shareFleet(t *testing.T) {
	t.Helper()
	zones := []string{"", "Europe/Warsaw", "America/New_York", "Asia/Kolkata"}
	for i := range 8 {
		id := fmt.Sprintf("st-%d", i)
		e.registerStation(t, id, zones[i%len(zones)])
		for b := range 2 {
			var ms []domain.Measurement
			for k := range 20 {
				ms = append(ms, domain.Measurement{ID: fmt.Sprintf("%d-%d", b, k), Type: []string{"pm25", "no2"}[k%2],
					Value: float64(i*100 + b*20 + k), MeasuredAt: at("2026-03-01T00:00:00Z").Add(time.Duration(b*20+k) * 37 * time.Minute)})
			}
			e.record(t, id, ms...)
		}
	}
}

func (e env) sharesOf(t *testing.T) int {
	t.Helper()
	n, err := e.rms.LiveShares(context.Background(), projections.ReadModels)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProjector_FourSharesProjectWhatOneProjectorDoes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.shareFleet(t)
	e.catchUp(t)
	single := e.snapshot(t)

	e.truncateReadModels(t)
	e.catchUpShares(t, 4)
	sameSnapshot(t, e.snapshot(t), single)
	if n := e.sharesOf(t); n != 4 {
		t.Errorf("stored share count %d, want 4 (claimed by the first projectors of a new projection)", n)
	}
	// Each share applied its devices' events only; together, the log.
	sts, err := readmodel.Statuses(context.Background(), e.pool, e.store)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sts {
		names = append(names, s.Name)
	}
	if len(sts) != 5 || sts[0].Name != projections.ReadModels || sts[0].Shares != 4 || sts[1].Name != "read_models/share-0-of-4" {
		t.Fatalf("statuses %v, want read_models (4 shares) then its shares", names)
	}
	var logEvents int64
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&logEvents); err != nil {
		t.Fatal(err)
	}
	for _, s := range sts[1:] {
		if s.Events == 0 || s.Events == logEvents || s.Behind != 0 {
			t.Errorf("%s applied %d of the %d events and is %d behind; want a part of them, none behind", s.Name, s.Events, logEvents, s.Behind)
		}
	}
	if sts[0].Events != logEvents {
		t.Errorf("the shares applied %d events together, the log holds %d", sts[0].Events, logEvents)
	}
}

func TestProjector_RefusesToStartWithAnotherShareCountThanTheStoredOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.shareFleet(t)
	e.catchUpShares(t, 2)
	before := e.snapshot(t)
	for _, tt := range []struct{ index, count int }{{0, 1}, {0, 4}, {3, 4}} {
		_, err := e.shareProjector(tt.index, tt.count, nil).CatchUp(context.Background(), e.head(t))
		if !errors.Is(err, projections.ErrShareCountChanged) {
			t.Errorf("share %d of %d on a projection of 2 shares: %v, want ErrShareCountChanged", tt.index, tt.count, err)
		}
	}
	// Run stops too, rather than retrying for ever.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.shareProjector(0, 3, nil).Run(ctx); !errors.Is(err, projections.ErrShareCountChanged) || ctx.Err() != nil {
		t.Errorf("Run of share 0 of 3: %v (context %v), want ErrShareCountChanged at once", err, ctx.Err())
	}
	sameSnapshot(t, e.snapshot(t), before)
	if n := e.sharesOf(t); n != 2 {
		t.Errorf("stored share count %d, want 2", n)
	}
}

func TestRebuildShares_ChangesTheShareCountAndRebuildsOneShareInPlace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.shareFleet(t)
	e.catchUpShares(t, 4)
	want := e.snapshot(t)
	ctx := context.Background()

	rebuild := func(scope projections.RebuildScope) projections.RebuildReport {
		t.Helper()
		shadow, err := readmodel.CreateShadow(ctx, e.pool, keepAll)
		if err != nil {
			t.Fatal(err)
		}
		defer shadow.Close()
		report, err := projections.RebuildShares(ctx, e.store, noWait{}, shadow, e.head(t), quiet, projections.Config{BatchSize: 50}, scope)
		if err != nil {
			t.Fatalf("rebuild %+v: %v", scope, err)
		}
		return report
	}

	// From 4 shares to 2: the projectors of 4 stop; those of 2 go on.
	rebuild(projections.RebuildScope{Shares: 2})
	if n := e.sharesOf(t); n != 2 {
		t.Fatalf("share count after rebuild -shares 2: %d", n)
	}
	sameSnapshot(t, e.snapshot(t), want)
	if _, err := e.shareProjector(1, 4, nil).CatchUp(ctx, e.head(t)); !errors.Is(err, projections.ErrShareCountChanged) {
		t.Errorf("a projector of 4 shares after the rebuild: %v, want ErrShareCountChanged", err)
	}
	more := "st-3" // more data for one device, projected by the 2 shares
	e.record(t, more, domain.Measurement{Type: "pm25", Value: 1, MeasuredAt: at("2026-03-05T00:00:00Z")})
	e.catchUpShares(t, 2)
	want = e.snapshot(t)

	// One share, rebuilt in place after its rows were damaged; the other
	// share's rows stay as they were.
	broken := projections.ShareOf(more, 2)
	for _, sql := range []string{`DELETE FROM rm_daily WHERE device_id = $1`, `DELETE FROM rm_latest WHERE device_id = $1`, `DELETE FROM rm_devices WHERE device_id = $1`} {
		if _, err := e.pool.Exec(ctx, sql, more); err != nil {
			t.Fatal(err)
		}
	}
	var otherHistory int
	otherShare := `SELECT count(*) FROM rm_device_history WHERE device_id <> $1`
	if err := e.pool.QueryRow(ctx, otherShare, more).Scan(&otherHistory); err != nil {
		t.Fatal(err)
	}
	report := rebuild(projections.RebuildScope{Shares: 2, Share: broken, One: true})
	sameSnapshot(t, e.snapshot(t), want)
	var logEvents int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&logEvents); err != nil {
		t.Fatal(err)
	}
	if report.Events != logEvents {
		t.Errorf("the rebuild of one share read %d events, the log holds %d", report.Events, logEvents)
	}
	var left int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'rm\_%\_rebuild'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d shadow tables left (%v)", left, err)
	}
	// The share's projector goes on from the rebuilt checkpoint.
	e.record(t, more, domain.Measurement{Type: "pm25", Value: 2, MeasuredAt: at("2026-03-06T00:00:00Z")})
	e.catchUpShares(t, 2)
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT coalesce(sum(count), 0) FROM rm_daily WHERE device_id = $1`, more).Scan(&n); err != nil || n != 42 {
		t.Errorf("%s's daily counts add up to %d (%v), want 42", more, n, err)
	}
	// A share of another count is refused.
	shadow, err := readmodel.CreateShadow(ctx, e.pool, keepAll)
	if err != nil {
		t.Fatal(err)
	}
	defer shadow.Close()
	if _, err := projections.RebuildShares(ctx, e.store, noWait{}, shadow, e.head(t), quiet, projections.Config{}, projections.RebuildScope{Shares: 4, Share: 1, One: true}); !errors.Is(err, projections.ErrShareCountChanged) {
		t.Errorf("rebuild of share 1 of 4 on 2 shares: %v, want ErrShareCountChanged", err)
	}
}
