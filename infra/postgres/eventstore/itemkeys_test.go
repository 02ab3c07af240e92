package eventstore_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

func TestItemKeyPartitionWidth(t *testing.T) {
	for _, tc := range []struct{ horizon, want time.Duration }{
		{7 * 24 * time.Hour, 24 * time.Hour}, // the default
		{48 * time.Hour, 24 * time.Hour},
		{36 * time.Hour, 8 * time.Hour},
		{24 * time.Hour, 6 * time.Hour},
		{time.Hour, 15 * time.Minute},
		{10 * time.Minute, 2 * time.Minute},
		{5 * time.Minute, time.Minute},
		{time.Minute, time.Minute}, // never under a minute
		{30 * time.Second, time.Minute},
	} {
		if got := eventstore.ItemKeyPartitionWidth(tc.horizon); got != tc.want {
			t.Errorf("ItemKeyPartitionWidth(%s) = %s, want %s", tc.horizon, got, tc.want)
		}
	}
}

// partitionsOf lists the partitions of a table by name.
func partitionsOf(t *testing.T, pool *pgxpool.Pool, parent string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = $1::regclass ORDER BY 1`, parent)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// sender appends batches of station "st" measurements with the given ids
// and returns the ids found to be duplicates.
func sender(t *testing.T, store *eventstore.Store, at func() time.Time) func(ids ...string) []string {
	return func(ids ...string) []string {
		t.Helper()
		b := domain.MeasurementsRecorded{StationID: "st"}
		for _, id := range ids {
			b.Measurements = append(b.Measurements, domain.Measurement{ID: id, Type: "pm25", Value: 1, MeasuredAt: at().Add(-time.Hour)})
		}
		res, err := store.AppendTelemetry(context.Background(), domain.TelemetryStream("st"), uuid.NewString(), b)
		if err != nil {
			t.Fatal(err)
		}
		return res.Duplicates
	}
}

// TestItemKeys_AreKeptForTheHorizonThenDroppedAWholeDayAtATime: with a
// horizon of days the store makes the day's and the next day's partition
// before recording on them; an id repeated within the horizon is a
// duplicate; once the day it was recorded on is older than the horizon,
// its partition is dropped (no row is deleted) and the id would be stored
// again.
func TestItemKeys_AreKeptForTheHorizonThenDroppedAWholeDayAtATime(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store := eventstore.New(pool, eventstore.Config{Unbatched: true, DedupHorizon: 48 * time.Hour, Clock: clock})
	defer store.Close()
	send := sender(t, store, clock)

	send("m1")
	if got, want := partitionsOf(t, pool, "telemetry_item_keys"), []string{
		"telemetry_item_keys_202603010000_202603020000", "telemetry_item_keys_202603020000_202603030000"}; !slices.Equal(got, want) {
		t.Fatalf("partitions %v, want today's and tomorrow's %v", got, want)
	}
	now = now.Add(2 * time.Hour) // 2026-03-02 01:00: recorded on the day made ahead
	send("m2")
	if dups := send("m1", "m2"); len(dups) != 2 {
		t.Fatalf("within the horizon: duplicates %v, want both", dups)
	}

	// 2026-03-04 00:30: 03-01 ended more than 48 hours ago, 03-02 did not.
	now = time.Date(2026, 3, 4, 0, 30, 0, 0, time.UTC)
	dropped, err := store.ExpireItemKeys(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dropped, []string{"telemetry_item_keys_202603010000_202603020000"}) {
		t.Fatalf("dropped %v, want only 2026-03-01's partition", dropped)
	}
	if dups := send("m1", "m2"); !slices.Equal(dups, []string{"m2"}) {
		t.Fatalf("after 03-01 expired: duplicates %v, want only m2 (m1 was recorded on the dropped day)", dups)
	}
	if got := partitionsOf(t, pool, "telemetry_item_keys"); !slices.Contains(got, "telemetry_item_keys_202603040000_202603050000") ||
		!slices.Contains(got, "telemetry_item_keys_202603050000_202603060000") {
		t.Fatalf("partitions %v: today's and tomorrow's were not made", got)
	}
}

// TestItemKeys_AShortHorizonIsDroppedMinutesAtATimeWhileAppendsGoOn: a
// 10-minute horizon gives 2-minute partitions. Driven by appends alone
// (no ExpireItemKeys), on an injected clock: the partition ahead exists
// before it is needed, a key is a duplicate for at least the horizon and
// at most a width more, and the partitions kept stay few however long the
// store runs.
func TestItemKeys_AShortHorizonIsDroppedMinutesAtATimeWhileAppendsGoOn(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	start := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	store := eventstore.New(pool, eventstore.Config{DedupHorizon: 10 * time.Minute, Clock: clock})
	defer store.Close()
	send := sender(t, store, clock)

	send("first")
	if got, want := partitionsOf(t, pool, "telemetry_item_keys"), []string{
		"telemetry_item_keys_202603011200_202603011202", "telemetry_item_keys_202603011202_202603011204"}; !slices.Equal(got, want) {
		t.Fatalf("partitions %v, want the current 2 minutes and the next %v", got, want)
	}
	// Recorded at 12:00:30 into [12:00, 12:02): kept until 12:10:30 at
	// least, dropped by the first append once 12:02 is 10 minutes ago.
	dropAt := time.Date(2026, 3, 1, 12, 12, 0, 0, time.UTC)
	for now = start.Add(30 * time.Second); now.Before(dropAt); now = now.Add(30 * time.Second) {
		dups := send(uuid.NewString(), "first")
		if now.Sub(start) <= 10*time.Minute && len(dups) != 1 {
			t.Fatalf("at %s, within the horizon: duplicates %v, want [first]", now.Format(time.TimeOnly), dups)
		}
		if n := len(partitionsOf(t, pool, "telemetry_item_keys")); n > 10/2+2 {
			t.Fatalf("at %s: %d partitions, want at most horizon/width + 2", now.Format(time.TimeOnly), n)
		}
	}
	if dups := send("first"); len(dups) != 0 {
		t.Fatalf("at %s, past the horizon and its partition: duplicates %v, want none", now.Format(time.TimeOnly), dups)
	}
	if dups := send("first"); len(dups) != 1 {
		t.Fatalf("sent again after it expired and was stored again: duplicates %v, want [first]", dups)
	}
	parts := partitionsOf(t, pool, "telemetry_item_keys")
	if slices.Contains(parts, "telemetry_item_keys_202603011200_202603011202") {
		t.Fatalf("partitions %v: the first one outlived the horizon", parts)
	}
}

// TestItemKeys_ADroppedPartitionIsMadeAgainBeforeAnAppendNeedsIt: another
// process with a clock ahead may drop the partition a store still records
// in; the append makes it again instead of failing.
func TestItemKeys_ADroppedPartitionIsMadeAgainBeforeAnAppendNeedsIt(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	store := eventstore.New(pool, eventstore.Config{DedupHorizon: 24 * time.Hour, Clock: func() time.Time { return now }})
	defer store.Close()
	b := domain.MeasurementsRecorded{StationID: "st", Measurements: []domain.Measurement{{ID: "m1", Type: "pm25", Value: 1, MeasuredAt: now}}}
	if _, err := store.AppendTelemetry(ctx, domain.TelemetryStream("st"), uuid.NewString(), b); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DROP TABLE telemetry_item_keys_202603011200_202603011800`); err != nil {
		t.Fatal(err)
	}
	b.Measurements[0].ID = "m2"
	if res, err := store.AppendTelemetry(ctx, domain.TelemetryStream("st"), uuid.NewString(), b); err != nil || len(res.Duplicates) != 0 {
		t.Fatalf("append after the partition was dropped: %+v, %v", res, err)
	}
}

// TestItemKeys_ANewHorizonLeavesThePartitionsOfTheOldOneUntilTheyExpire:
// restarted with a horizon of minutes on partitions a day wide, the store
// records in the day partition that holds now (no overlapping partition can
// be made), makes minute partitions after it, and still finds keys of the
// day partition until it expires.
func TestItemKeys_ANewHorizonLeavesThePartitionsOfTheOldOneUntilTheyExpire(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	now := time.Date(2026, 3, 1, 23, 57, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	days := eventstore.New(pool, eventstore.Config{Unbatched: true, DedupHorizon: 7 * 24 * time.Hour, Clock: clock})
	sender(t, days, clock)("old")
	days.Close()

	minutes := eventstore.New(pool, eventstore.Config{Unbatched: true, DedupHorizon: 4 * time.Minute, Clock: clock})
	defer minutes.Close()
	send := sender(t, minutes, clock)
	now = now.Add(time.Minute) // 23:58, in the day partition
	if dups := send("old", "new"); !slices.Equal(dups, []string{"old"}) {
		t.Fatalf("duplicates %v, want [old]", dups)
	}
	now = time.Date(2026, 3, 2, 0, 0, 30, 0, time.UTC) // in the next day's partition, made ahead by the first store
	if dups := send("old", "new"); len(dups) != 2 {
		t.Fatalf("duplicates %v, want both", dups)
	}
	now = time.Date(2026, 3, 3, 0, 4, 30, 0, time.UTC) // both days ended more than 4 minutes ago
	if dups := send("old", "new"); len(dups) != 0 {
		t.Fatalf("duplicates %v after the day partitions expired, want none", dups)
	}
	// The minute made ahead at 03-02 00:00:30 (after the day partitions)
	// is within the horizon yet.
	want := []string{"telemetry_item_keys_202603030000_202603030001",
		"telemetry_item_keys_202603030004_202603030005", "telemetry_item_keys_202603030005_202603030006"}
	if got := partitionsOf(t, pool, "telemetry_item_keys"); !slices.Equal(got, want) {
		t.Fatalf("partitions %v, want only minute ones %v", got, want)
	}
}

// TestItemKeys_KeysRecordedBeforeTheUpgradeAreDuplicatesForTheWholeHorizon:
// a database whose keys were recorded by day (before migration 00045)
// keeps detecting them after the upgrade, in batches that mix them with
// new items, until their day is past the horizon; then the day partition
// is dropped and the old table is no longer searched. Nothing is counted
// twice across the upgrade.
func TestItemKeys_KeysRecordedBeforeTheUpgradeAreDuplicatesForTheWholeHorizon(t *testing.T) {
	pool, _ := pgtest.NewEmptyDatabase(t)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sets := []postgres.MigrationSet{eventstore.Migrations(), readmodel.Migrations()}
	if err := postgres.MigrateTo(ctx, pool, quiet, 44, sets...); err != nil {
		t.Fatal(err)
	}
	// What the event store of that schema did on 2026-03-01 for items
	// old-1 and old-2 of station st: the day's partition made by a plain
	// table and ATTACH, the keys recorded with their day.
	for _, q := range []string{
		`CREATE TABLE telemetry_item_ids_20260301 (LIKE telemetry_item_ids INCLUDING DEFAULTS)`,
		`ALTER TABLE telemetry_item_ids ATTACH PARTITION telemetry_item_ids_20260301 FOR VALUES FROM ('2026-03-01') TO ('2026-03-02')`,
		`CREATE TABLE telemetry_item_ids_20260302 (LIKE telemetry_item_ids INCLUDING DEFAULTS)`,
		`ALTER TABLE telemetry_item_ids ATTACH PARTITION telemetry_item_ids_20260302 FOR VALUES FROM ('2026-03-02') TO ('2026-03-03')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO telemetry_item_ids (item_key, recorded_on) VALUES ($1, '2026-03-01'), ($2, '2026-03-01')`,
		domain.TelemetryItemKey("st", "old-1"), domain.TelemetryItemKey("st", "old-2")); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, quiet, sets...); err != nil {
		t.Fatal(err)
	}

	now := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store := eventstore.New(pool, eventstore.Config{DedupHorizon: 48 * time.Hour, Clock: clock})
	defer store.Close()
	send := sender(t, store, clock)
	stored := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM measurement_items`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if dups := send("old-1", "new-1"); !slices.Equal(dups, []string{"old-1"}) {
		t.Fatalf("right after the upgrade: duplicates %v, want [old-1]", dups)
	}
	// 2026-03-03 23:30: 03-01 ended 47.5 hours ago, within the horizon.
	now = time.Date(2026, 3, 3, 23, 30, 0, 0, time.UTC)
	if dups := send("old-1", "old-2", "new-1", "new-2"); !slices.Equal(dups, []string{"old-1", "old-2", "new-1"}) {
		t.Fatalf("within the horizon: duplicates %v, want [old-1 old-2 new-1]", dups)
	}
	if got := stored(); got != 2 {
		t.Fatalf("%d items in the log, want 2 (new-1, new-2): an item was stored twice", got)
	}
	if got := partitionsOf(t, pool, "telemetry_item_ids"); len(got) != 2 {
		t.Fatalf("old partitions %v: dropped within the horizon", got)
	}

	// 2026-03-04 00:30: 03-01 is past the horizon, 03-02 (empty) is not.
	now = time.Date(2026, 3, 4, 0, 30, 0, 0, time.UTC)
	if dups := send("old-1", "new-2"); !slices.Equal(dups, []string{"new-2"}) {
		t.Fatalf("after 03-01 expired: duplicates %v, want [new-2]", dups)
	}
	if got := partitionsOf(t, pool, "telemetry_item_ids"); !slices.Equal(got, []string{"telemetry_item_ids_20260302"}) {
		t.Fatalf("old partitions %v, want 03-02's only", got)
	}
	now = time.Date(2026, 3, 5, 0, 30, 0, 0, time.UTC)
	if _, err := store.ExpireItemKeys(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got := partitionsOf(t, pool, "telemetry_item_ids"); len(got) != 0 {
		t.Fatalf("old partitions %v, want none past the horizon", got)
	}
	if dups := send("old-2", "new-3"); len(dups) != 0 {
		t.Fatalf("duplicates %v, want none", dups)
	}
}
