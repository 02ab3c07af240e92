package readmodel_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

func TestStatuses_ReportEachCheckpointAndWhatTheLogHoldsAfterIt(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	store := eventstore.New(pool, eventstore.Config{})
	defer store.Close()
	for range 3 {
		d, err := domain.NewEventData(uuid.NewString(), domain.MeasurementRecorded{StationID: "s", MeasurementID: uuid.NewString(), Type: "pm25"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, domain.TelemetryStream("s"), domain.AnyVersion, []domain.EventData{d}); err != nil {
			t.Fatal(err)
		}
	}
	// ReadStream, unlike ReadAfter, does not wait for older transactions
	// (of any database of the server) to end.
	evs, err := store.ReadStream(ctx, domain.TelemetryStream("s"))
	if err != nil || len(evs) != 3 {
		t.Fatalf("read %d events, %v; want 3", len(evs), err)
	}
	// "a" has applied the first event; "b" none.
	w, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx, "a", domain.Start, evs[0].Position, &projections.Changes{Events: 1}); err != nil {
		t.Fatal(err)
	}

	sts, err := readmodel.Statuses(ctx, pool, store)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || sts[0].Name != "a" || sts[1].Name != "b" {
		t.Fatalf("statuses %+v, want a then b", sts)
	}
	for i, want := range []struct {
		pos    domain.Position
		events int64
		behind int64
	}{{evs[0].Position, 1, 2}, {domain.Start, 0, 3}} {
		st := sts[i]
		if st.Position != want.pos || st.Events != want.events || !st.BacklogKnown || st.Behind != want.behind || st.OldestWait <= 0 {
			t.Errorf("%s: %+v, want position %s, %d applied, %d behind with a positive oldest wait", st.Name, st, want.pos, want.events, want.behind)
		}
	}

	// A log that cannot count leaves the backlog unknown.
	sts, err = readmodel.Statuses(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.BacklogKnown || st.Behind != 0 {
			t.Errorf("%s without a countable log: %+v", st.Name, st)
		}
	}
}

func TestStatuses_APartitionedProjectionHasARowBoundedByItsSlowestShareAndOneRowPerShare(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	store := eventstore.New(pool, eventstore.Config{})
	defer store.Close()
	for range 2 {
		d, err := domain.NewEventData(uuid.NewString(), domain.MeasurementRecorded{StationID: "s", MeasurementID: uuid.NewString(), Type: "pm25"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, domain.TelemetryStream("s"), domain.AnyVersion, []domain.EventData{d}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := store.ReadStream(ctx, domain.TelemetryStream("s"))
	if err != nil || len(evs) != 2 {
		t.Fatalf("read %d events, %v; want 2", len(evs), err)
	}
	w, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Shares 0 and 2 of 3 have applied both events; share 1 never started.
	for _, i := range []int{0, 2} {
		name := projections.Share{Index: i, Count: 3}.CheckpointName("p")
		if n, _, err := w.ClaimShares(ctx, "p", name, 3); err != nil || n != 3 {
			t.Fatalf("claim 3 shares: %d, %v", n, err)
		}
		if err := w.Apply(ctx, name, domain.Start, evs[1].Position, &projections.Changes{Events: 1}); err != nil {
			t.Fatal(err)
		}
	}
	sts, err := readmodel.Statuses(ctx, pool, store)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sts {
		names = append(names, s.Name)
	}
	if len(sts) != 4 || names[0] != "p" || names[1] != "p/share-0-of-3" || names[2] != "p/share-1-of-3" || names[3] != "p/share-2-of-3" {
		t.Fatalf("statuses %v, want p and its three shares", names)
	}
	if p := sts[0]; p.Shares != 3 || p.Events != 2 || p.Behind != 2 || p.Position != domain.Start || !p.UpdatedAt.IsZero() {
		t.Errorf("p: %+v, want 3 shares, 2 events applied, bounded by share 1 (2 behind, at the start, never committed)", p)
	}
	if s := sts[3]; s.Behind != 0 || s.Events != 1 || s.Position != evs[1].Position {
		t.Errorf("share 2: %+v, want caught up with 1 event applied", s)
	}
}
