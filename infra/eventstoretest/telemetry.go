package eventstoretest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// testTelemetry is the contract of AppendTelemetry (and FindTelemetryItem,
// for stores that have it): a batch is one event, and an item id is stored
// once per device, whatever batch it comes in, in either log format.
func testTelemetry(t *testing.T, newStore func(t *testing.T) Store) {
	measure := func(device string, ids ...string) domain.MeasurementsRecorded {
		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		b := domain.MeasurementsRecorded{StationID: device}
		for i, id := range ids {
			b.Measurements = append(b.Measurements, domain.Measurement{ID: id, Type: "pm25", Value: float64(i) + 0.5, MeasuredAt: at.Add(time.Duration(i) * time.Minute)})
		}
		return b
	}
	send := func(f *fixture, stream string, b domain.TelemetryBatch) domain.AppendResult {
		f.t.Helper()
		res, err := f.s.AppendTelemetry(f.ctx, stream, uuid.NewString(), b)
		if err != nil {
			f.t.Fatalf("AppendTelemetry %d items to %s: %v", len(b.ItemIDs()), stream, err)
		}
		return res
	}
	storedItems := func(f *fixture, stream string) []string {
		f.t.Helper()
		var out []string
		for _, r := range f.readStream(stream) {
			e, err := r.Decode()
			if err != nil {
				f.t.Fatal(err)
			}
			if b, ok := e.(domain.TelemetryBatch); ok {
				out = append(out, b.ItemIDs()...)
			}
		}
		return out
	}

	t.Run("ABatchIsOneEventOfEveryItemInOrder", func(t *testing.T) {
		f := newFixture(t, newStore)
		dev := f.prefix + "st-a"
		s := domain.TelemetryStream(dev)
		b := measure(dev, "m1", "m2", "m3")
		res := send(f, s, b)
		if len(res.Duplicates) != 0 || res.NextVersion != 0 {
			t.Fatalf("first batch: %+v, want no duplicates at version 0", res)
		}
		got := f.readStream(s)
		if len(got) != 1 || got[0].Type != domain.TypeMeasurementsRecorded {
			t.Fatalf("stream holds %d events (%v), want one %s", len(got), got, domain.TypeMeasurementsRecorded)
		}
		e, err := got[0].Decode()
		if err != nil || !slices.Equal(e.(domain.TelemetryBatch).ItemIDs(), []string{"m1", "m2", "m3"}) {
			t.Fatalf("decoded %+v (%v)", e, err)
		}
		back := e.(domain.MeasurementsRecorded)
		for i, m := range back.Measurements {
			if !m.MeasuredAt.Equal(b.Measurements[i].MeasuredAt) || m.Value != b.Measurements[i].Value || m.Type != "pm25" {
				t.Fatalf("item %d came back as %+v, want %+v", i, m, b.Measurements[i])
			}
		}
	})

	t.Run("AnItemRepeatedInALaterBatchIsReportedByIDAndNotStored", func(t *testing.T) {
		f := newFixture(t, newStore)
		dev := f.prefix + "st-b"
		s := domain.TelemetryStream(dev)
		send(f, s, measure(dev, "m1", "m2"))
		res := send(f, s, measure(dev, "m3", "m1", "m4"))
		sameIDs(t, "duplicates", res.Duplicates, []string{"m1"})
		if res.NextVersion != 1 {
			t.Fatalf("version %d, want 1", res.NextVersion)
		}
		sameIDs(t, "stored items", storedItems(f, s), []string{"m1", "m2", "m3", "m4"})
	})

	t.Run("AnItemRepeatedWithinABatchIsStoredOnce", func(t *testing.T) {
		f := newFixture(t, newStore)
		dev := f.prefix + "st-c"
		s := domain.TelemetryStream(dev)
		res := send(f, s, measure(dev, "m1", "m2", "m1"))
		sameIDs(t, "duplicates", res.Duplicates, []string{"m1"})
		sameIDs(t, "stored items", storedItems(f, s), []string{"m1", "m2"})
	})

	t.Run("ABatchOfDuplicatesAppendsNothing", func(t *testing.T) {
		f := newFixture(t, newStore)
		dev := f.prefix + "st-d"
		s := domain.TelemetryStream(dev)
		send(f, s, measure(dev, "m1", "m2"))
		res := send(f, s, measure(dev, "m2", "m1"))
		sameIDs(t, "duplicates", res.Duplicates, []string{"m2", "m1"})
		if res.NextVersion != 0 || len(f.readStream(s)) != 1 {
			t.Fatalf("a retried batch: %+v, stream of %d events; want nothing appended", res, len(f.readStream(s)))
		}
	})

	t.Run("AnItemOfTheFirstLogFormatIsADuplicate", func(t *testing.T) {
		f := newFixture(t, newStore)
		dev := f.prefix + "st-e"
		s := domain.TelemetryStream(dev)
		old := domain.MeasurementRecorded{StationID: dev, MeasurementID: "m1", Type: "pm25", Value: 1, MeasuredAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		data, err := domain.NewEventData(domain.TelemetryItemKey(dev, "m1"), old)
		if err != nil {
			t.Fatal(err)
		}
		f.append(s, domain.AnyVersion, []domain.EventData{data})
		res := send(f, s, measure(dev, "m1", "m2"))
		sameIDs(t, "duplicates", res.Duplicates, []string{"m1"})
		sameIDs(t, "stored items", storedItems(f, s), []string{"m1", "m2"})
	})

	t.Run("ItemIDsOfTwoDevicesNeverCollide", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.prefix+"st-f", f.prefix+"st-g"
		send(f, domain.TelemetryStream(a), measure(a, "m1"))
		if res := send(f, domain.TelemetryStream(b), measure(b, "m1")); len(res.Duplicates) != 0 {
			t.Fatalf("another device's m1: %+v, want it stored", res)
		}
	})

	t.Run("VehicleEventsToo", func(t *testing.T) {
		f := newFixture(t, newStore)
		dev := f.prefix + "veh-a"
		s := domain.TelemetryStream(dev)
		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		batch := func(eids ...string) domain.VehicleEventsRecorded {
			b := domain.VehicleEventsRecorded{VID: dev}
			for i, id := range eids {
				b.Events = append(b.Events, domain.VehicleEvent{EID: id, Type: "telemetry", OccurredAt: at.Add(time.Duration(i) * time.Second),
					Readings: map[string]float64{"speed_kmh": float64(i)}, Location: &domain.Location{Lat: 50, Lon: 19.9}})
			}
			return b
		}
		send(f, s, batch("e1", "e2"))
		res := send(f, s, batch("e2", "e3"))
		sameIDs(t, "duplicates", res.Duplicates, []string{"e2"})
		sameIDs(t, "stored items", storedItems(f, s), []string{"e1", "e2", "e3"})
	})

	t.Run("ConcurrentRetriesOfOneBatchStoreEachItemOnce", func(t *testing.T) {
		f := newFixture(t, newStore)
		dev := f.prefix + "st-h"
		s := domain.TelemetryStream(dev)
		var ids []string
		for i := range 50 {
			ids = append(ids, fmt.Sprintf("m%d", i))
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			accepted int
			errs     []error
		)
		for range 8 {
			wg.Go(func() {
				res, err := f.s.AppendTelemetry(f.ctx, s, uuid.NewString(), measure(dev, ids...))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				accepted += len(ids) - len(res.Duplicates)
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("concurrent appends failed: %v", errs)
		}
		if accepted != len(ids) {
			t.Fatalf("accepted %d items in all, want each of %d once", accepted, len(ids))
		}
		got := storedItems(f, s)
		slices.Sort(got)
		want := slices.Clone(ids)
		slices.Sort(want)
		sameIDs(t, "stored items", got, want)
	})

	t.Run("FindTelemetryItemFindsTheEventHoldingIt", func(t *testing.T) {
		f := newFixture(t, newStore)
		finder, ok := f.s.(commands.ItemFinder)
		if !ok {
			t.Skip("the store cannot find items")
		}
		dev := f.prefix + "st-i"
		s := domain.TelemetryStream(dev)
		old := domain.MeasurementRecorded{StationID: dev, MeasurementID: "m0", Type: "pm25", Value: 1, MeasuredAt: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)}
		data, err := domain.NewEventData(domain.TelemetryItemKey(dev, "m0"), old)
		if err != nil {
			t.Fatal(err)
		}
		f.append(s, domain.AnyVersion, []domain.EventData{data})
		send(f, s, measure(dev, "m1", "m2"))
		send(f, s, measure(dev, "m3"))
		for _, tc := range []struct {
			id      string
			found   bool
			version int64
		}{{"m0", true, 0}, {"m2", true, 1}, {"m3", true, 2}, {"m9", false, 0}} {
			r, found, err := finder.FindTelemetryItem(f.ctx, s, tc.id, domain.TelemetryItemKey(dev, tc.id))
			if err != nil || found != tc.found || (found && r.StreamVersion != tc.version) {
				t.Fatalf("FindTelemetryItem(%s) = version %d, %v, %v; want %v at %d", tc.id, r.StreamVersion, found, err, tc.found, tc.version)
			}
		}
		other := f.prefix + "st-j"
		if _, found, err := finder.FindTelemetryItem(f.ctx, domain.TelemetryStream(other), "m1", domain.TelemetryItemKey(other, "m1")); err != nil || found {
			t.Fatalf("another device's m1 found: %v, %v", found, err)
		}
	})
}
