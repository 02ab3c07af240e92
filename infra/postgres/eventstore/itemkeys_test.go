package eventstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestItemKeys_AreKeptForTheHorizonThenDroppedAWholeDayAtATime: the store
// makes the day's and the next day's partition before recording on them; an
// id repeated within the horizon is a duplicate; once the day it was
// recorded on is older than the horizon, its partition is dropped (no row
// is deleted) and the id would be stored again.
func TestItemKeys_AreKeptForTheHorizonThenDroppedAWholeDayAtATime(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store := eventstore.New(pool, eventstore.Config{Unbatched: true, DedupHorizon: 48 * time.Hour, Clock: clock})
	defer store.Close()
	partitions := func() []string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'telemetry_item_ids'::regclass ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	send := func(ids ...string) domain.AppendResult {
		t.Helper()
		b := domain.MeasurementsRecorded{StationID: "st"}
		for _, id := range ids {
			b.Measurements = append(b.Measurements, domain.Measurement{ID: id, Type: "pm25", Value: 1, MeasuredAt: now.Add(-time.Hour)})
		}
		res, err := store.AppendTelemetry(ctx, domain.TelemetryStream("st"), uuid.NewString(), b)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	send("m1")
	if got, want := partitions(), []string{"telemetry_item_ids_20260301", "telemetry_item_ids_20260302"}; !slices.Equal(got, want) {
		t.Fatalf("partitions %v, want today's and tomorrow's %v", got, want)
	}
	now = now.Add(2 * time.Hour) // 2026-03-02 01:00: recorded on the day made ahead
	send("m2")
	if res := send("m1", "m2"); len(res.Duplicates) != 2 {
		t.Fatalf("within the horizon: %+v, want both duplicates", res)
	}

	// 2026-03-04 00:30: 03-01 ended more than 48 hours ago, 03-02 did not.
	now = time.Date(2026, 3, 4, 0, 30, 0, 0, time.UTC)
	dropped, err := store.ExpireItemKeys(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dropped, []string{"telemetry_item_ids_20260301"}) {
		t.Fatalf("dropped %v, want only 2026-03-01's partition", dropped)
	}
	if res := send("m1", "m2"); !slices.Equal(res.Duplicates, []string{"m2"}) {
		t.Fatalf("after 03-01 expired: duplicates %v, want only m2 (m1 was recorded on the dropped day)", res.Duplicates)
	}
	if got := partitions(); !slices.Contains(got, "telemetry_item_ids_20260304") || !slices.Contains(got, "telemetry_item_ids_20260305") {
		t.Fatalf("partitions %v: today's and tomorrow's were not made", got)
	}
}

// TestItemKeys_ADroppedPartitionIsMadeAgainBeforeAnAppendNeedsIt: another
// process with a clock ahead may drop the day a store still records on; the
// append makes the partition again instead of failing.
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
	if _, err := pool.Exec(ctx, `DROP TABLE telemetry_item_ids_20260301`); err != nil {
		t.Fatal(err)
	}
	b.Measurements[0].ID = "m2"
	if res, err := store.AppendTelemetry(ctx, domain.TelemetryStream("st"), uuid.NewString(), b); err != nil || len(res.Duplicates) != 0 {
		t.Fatalf("append after the partition was dropped: %+v, %v", res, err)
	}
}
