package readmodel_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/projections"
)

// TestReadKeys_ProjectedCreationsAndRevocationsAreWhatTheReadAPIFinds
// writes read-key changes as the projector does, one batch projected twice
// among them (a crash before the checkpoint moved), and reads them back as
// the read API and the CLI do.
func TestReadKeys_ProjectedCreationsAndRevocationsAreWhatTheReadAPIFinds(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	w, err := readmodel.NewWriter(pool, readmodel.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const name = "readkeys-test"
	if _, err := w.Checkpoint(ctx, name); err != nil {
		t.Fatal(err)
	}
	scoped, fleet := domain.HashReadKey("scoped"), domain.HashReadKey("fleet")
	created := []projections.ReadKeyChange{
		{KeyID: "k1", Name: "depot", Devices: []string{"st-1", "veh-1"}, Hash: scoped, At: queryNow},
		{KeyID: "k2", Name: "wall", Hash: fleet, At: queryNow},
	}
	// Batch 2 repeats k2's creation with another hash: the first one stays.
	batches := [][]projections.ReadKeyChange{
		created,
		{{KeyID: "k1", Revoked: true, At: queryNow.Add(1)}, {KeyID: "k2", Name: "again", Hash: scoped, At: queryNow.Add(2)}},
	}
	from := domain.Start
	for i, b := range batches {
		to := domain.Position{Commit: uint64(i + 1), Prepare: uint64(i + 1)}
		if err := w.Apply(ctx, name, from, to, &projections.Changes{ReadKeys: b}); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		from = to
	}

	q := mustQueries(t, pool)
	k1, err := q.ReadKey(ctx, "k1")
	if err != nil || !k1.Revoked || !bytes.Equal(k1.Hash, scoped) || !slices.Equal(k1.Devices, []string{"st-1", "veh-1"}) {
		t.Fatalf("ReadKey(k1) = %+v, %v; want revoked, scoped to st-1 and veh-1", k1, err)
	}
	k2, err := q.ReadKey(ctx, "k2")
	if err != nil || k2.Revoked || !bytes.Equal(k2.Hash, fleet) || k2.Devices != nil {
		t.Fatalf("ReadKey(k2) = %+v, %v; want the first creation, fleet-wide, working", k2, err)
	}
	_, err = q.ReadKey(ctx, "k3")
	assertIs(t, "ReadKey(k3)", err, domain.ErrReadKeyNotFound)

	list, err := readmodel.ReadKeys(ctx, pool)
	if err != nil || len(list) != 2 || list[0].ID != "k1" || list[0].RevokedAt == nil || list[1].Name != "wall" || list[1].RevokedAt != nil {
		t.Fatalf("ReadKeys = %+v, %v", list, err)
	}
}
