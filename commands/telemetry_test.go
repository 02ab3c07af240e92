package commands_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// item is one telemetry item: a client id ("" for none) and a value.
type item struct {
	id    string
	value float64
}

// telemetryKind sends valid telemetry items of one kind of device.
type telemetryKind struct {
	name            string
	device, sibling string
	send            func(f *fixture, c commands.Caller, deviceID string, items ...item) (commands.Outcome, error)
	// recorded is the event an item becomes once it has a client id.
	recorded func(deviceID string, it item) domain.Event
}

func telemetryKinds() []telemetryKind {
	return []telemetryKind{
		{
			name: "measurements", device: stationA, sibling: stationB,
			send: func(f *fixture, c commands.Caller, deviceID string, items ...item) (commands.Outcome, error) {
				ms := make([]domain.Measurement, len(items))
				for i, it := range items {
					ms[i] = pm25(it.id, it.value)
				}
				return f.recordMeasurements(c, deviceID, ms...)
			},
			recorded: func(deviceID string, it item) domain.Event { return pm25(it.id, it.value).Recorded(deviceID) },
		},
		{
			name: "vehicle events", device: vehicleA, sibling: vehicleB,
			send: func(f *fixture, c commands.Caller, deviceID string, items ...item) (commands.Outcome, error) {
				es := make([]domain.VehicleEvent, len(items))
				for i, it := range items {
					es[i] = speed(it.id, it.value)
				}
				return f.recordVehicleEvents(c, deviceID, es...)
			},
			recorded: func(deviceID string, it item) domain.Event { return speed(it.id, it.value).Recorded(deviceID) },
		},
	}
}

// telemetryAfterSetup is what a device's telemetry stream holds beyond
// the fixture's own measurement m1 of stationA.
func telemetryAfterSetup(f *fixture, deviceID string) []domain.Event {
	f.t.Helper()
	evs := f.items(domain.TelemetryStream(deviceID))
	if deviceID == stationA {
		return evs[1:]
	}
	return evs
}

// TestTelemetry_ABatchIsStoredInTheDevicesTelemetryStream: sent by the
// device itself, the batch becomes ONE event holding every item in batch
// order, and the outcome counts them and carries the stream's new version.
func TestTelemetry_ABatchIsStoredInTheDevicesTelemetryStream(t *testing.T) {
	for _, k := range telemetryKinds() {
		t.Run(k.name, func(t *testing.T) {
			f := newFixture(t)
			batch := []item{{"a", 1}, {"b", 2}, {"c", 3}}
			out := f.must(k.send(f, device(k.device), k.device, batch...))
			if out.ID != k.device || out.Accepted != 3 || out.Duplicates != 0 {
				t.Fatalf("outcome %+v, want 3 accepted for %s", out, k.device)
			}
			last := f.events(domain.TelemetryStream(k.device))
			if out.Version != last[len(last)-1].StreamVersion {
				t.Fatalf("outcome version %d, the stream is at %d", out.Version, last[len(last)-1].StreamVersion)
			}
			if b, err := last[len(last)-1].Decode(); err != nil || len(b.(domain.TelemetryBatch).ItemIDs()) != len(batch) {
				t.Fatalf("the last event holds %+v (%v), want the whole batch of %d", b, err, len(batch))
			}
			var want []domain.Event
			for _, it := range batch {
				want = append(want, k.recorded(k.device, it))
			}
			if got := telemetryAfterSetup(f, k.device); !reflect.DeepEqual(got, want) {
				t.Fatalf("stored %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestTelemetry_ARepeatedIDIsCountedAsADuplicateAndNotStoredAgain: an id
// already stored, in an earlier batch or earlier in the same batch (as the
// PostgreSQL store does: stored once, the first one wins), is counted as a
// duplicate; the other items of the batch are stored.
func TestTelemetry_ARepeatedIDIsCountedAsADuplicateAndNotStoredAgain(t *testing.T) {
	for _, k := range telemetryKinds() {
		for _, tc := range []struct {
			name                 string
			first, second        []item
			accepted, duplicates int
			stored               []item
		}{
			{"the same id in a later batch", []item{{"a", 1}}, []item{{"a", 9}}, 0, 1, []item{{"a", 1}}},
			{"a retried batch", []item{{"a", 1}, {"b", 2}}, []item{{"a", 1}, {"b", 2}}, 0, 2, []item{{"a", 1}, {"b", 2}}},
			{"a later batch of old and new ids", []item{{"a", 1}}, []item{{"b", 2}, {"a", 1}}, 1, 1, []item{{"a", 1}, {"b", 2}}},
			{"the same id twice in one batch", nil, []item{{"a", 1}, {"b", 2}, {"a", 9}}, 2, 1, []item{{"a", 1}, {"b", 2}}},
		} {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				if tc.first != nil {
					f.must(k.send(f, device(k.device), k.device, tc.first...))
				}
				out := f.must(k.send(f, device(k.device), k.device, tc.second...))
				if out.Accepted != tc.accepted || out.Duplicates != tc.duplicates {
					t.Fatalf("outcome %+v, want %d accepted and %d duplicates", out, tc.accepted, tc.duplicates)
				}
				var want []domain.Event
				for _, it := range tc.stored {
					want = append(want, k.recorded(k.device, it))
				}
				if got := telemetryAfterSetup(f, k.device); !reflect.DeepEqual(got, want) {
					t.Fatalf("stored %+v\nwant %+v", got, want)
				}
			})
		}
	}
}

// TestTelemetry_ClientIDsAreScopedToTheirDevice: two devices may use the
// same client id; neither is the other's duplicate.
func TestTelemetry_ClientIDsAreScopedToTheirDevice(t *testing.T) {
	for _, k := range telemetryKinds() {
		t.Run(k.name, func(t *testing.T) {
			f := newFixture(t)
			for _, id := range []string{k.device, k.sibling} {
				if out := f.must(k.send(f, device(id), id, item{"same", 1})); out.Accepted != 1 {
					t.Fatalf("%s: outcome %+v, want the item accepted", id, out)
				}
			}
		})
	}
}

// TestTelemetry_ItemsWithoutIDsGetFreshOnesAndAreNeverDuplicates: the
// same batch sent twice without ids is stored twice, every item under an id
// of its own. Only vehicle events tell the device those ids.
func TestTelemetry_ItemsWithoutIDsGetFreshOnesAndAreNeverDuplicates(t *testing.T) {
	for _, k := range telemetryKinds() {
		t.Run(k.name, func(t *testing.T) {
			f := newFixture(t)
			var told []string
			for range 2 {
				out := f.must(k.send(f, device(k.device), k.device, item{"", 1}, item{"", 1}))
				if out.Accepted != 2 || out.Duplicates != 0 {
					t.Fatalf("outcome %+v, want both items accepted", out)
				}
				told = append(told, out.EIDs...)
			}
			ids := map[string]bool{}
			for _, e := range telemetryAfterSetup(f, k.device) {
				switch e := e.(type) {
				case domain.MeasurementRecorded:
					ids[e.MeasurementID] = true
				case domain.VehicleEventRecorded:
					ids[e.EID] = true
				}
			}
			if len(ids) != 4 || ids[""] {
				t.Fatalf("stored item ids %v, want 4 distinct ones", ids)
			}
			switch {
			case k.device == vehicleA && (len(told) != 4 || !ids[told[0]] || !ids[told[3]]):
				t.Fatalf("outcomes told the eids %v, want the 4 stored ones %v", told, ids)
			case k.device == stationA && told != nil:
				t.Fatalf("measurement outcomes carry ids %v", told)
			}
		})
	}
}

// TestTelemetry_ItemKeysAreDerivedFromDeviceAndClientID pins the
// derivation: the first log format stored each item under this key as its
// event id, and the batch format de-duplicates by it, so a retry after any
// upgrade still finds the item it repeats.
func TestTelemetry_ItemKeysAreDerivedFromDeviceAndClientID(t *testing.T) {
	f := newFixture(t)
	f.registerStation("st-1")
	f.registerVehicle("veh-1")
	for _, tc := range []struct {
		name, device, clientID, key string
		legacy                      domain.Event
		send                        func() (commands.Outcome, error)
	}{
		{"measurement m1 of st-1", "st-1", "m1", "e57d7a82-eced-50cf-bf3f-a173c5201f03", pm25("m1", 1).Recorded("st-1"), func() (commands.Outcome, error) {
			return f.recordMeasurements(operator, "st-1", pm25("m1", 1))
		}},
		{"event e1 of veh-1", "veh-1", "e1", "e2af1e1c-26d9-5df9-b49f-0a4db5971afc", speed("e1", 1).Recorded("veh-1"), func() (commands.Outcome, error) {
			return f.recordVehicleEvents(operator, "veh-1", speed("e1", 1))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.TelemetryItemKey(tc.device, tc.clientID); got != tc.key {
				t.Fatalf("key %s, want %s", got, tc.key)
			}
			// The item as the first log format stored it: one event, its key as id.
			data, err := domain.NewEventData(tc.key, tc.legacy)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.store.Append(f.ctx, domain.TelemetryStream(tc.device), domain.AnyVersion, []domain.EventData{data}); err != nil {
				t.Fatal(err)
			}
			if out := f.must(tc.send()); out.Accepted != 0 || out.Duplicates != 1 {
				t.Fatalf("outcome %+v, want the item a duplicate of the one stored in the first format", out)
			}
		})
	}
}

// TestTelemetry_OneBadItemRefusesTheWholeBatchNamingItsIndex: the good
// items of a batch with one bad item are not stored either.
func TestTelemetry_OneBadItemRefusesTheWholeBatchNamingItsIndex(t *testing.T) {
	m := func(mutate func(*domain.Measurement)) domain.Measurement {
		good := pm25("", 1)
		mutate(&good)
		return good
	}
	e := func(mutate func(*domain.VehicleEvent)) domain.VehicleEvent {
		good := speed("", 10)
		mutate(&good)
		return good
	}
	goodM, goodE := m(func(*domain.Measurement) {}), e(func(*domain.VehicleEvent) {})
	measurements := func(ms ...domain.Measurement) func(*fixture) (commands.Outcome, error) {
		return func(f *fixture) (commands.Outcome, error) {
			return f.recordMeasurements(device(stationA), stationA, ms...)
		}
	}
	events := func(es ...domain.VehicleEvent) func(*fixture) (commands.Outcome, error) {
		return func(f *fixture) (commands.Outcome, error) {
			return f.recordVehicleEvents(device(vehicleA), vehicleA, es...)
		}
	}
	for _, tc := range []struct {
		name  string
		send  func(*fixture) (commands.Outcome, error)
		index int // -1: the batch as a whole
		field string
	}{
		{"no measurements", measurements(), -1, "measurements"},
		{"measurements over the item limit", measurements(make([]domain.Measurement, domain.MaxBatchItems+1)...), -1, "measurements"},
		{"a measurement type breaking the name pattern", measurements(goodM, m(func(m *domain.Measurement) { m.Type = "PM2.5" })), 1, "type"},
		{"a NaN value", measurements(goodM, goodM, m(func(m *domain.Measurement) { m.Value = math.NaN() })), 2, "value"},
		{"an infinite value", measurements(m(func(m *domain.Measurement) { m.Value = math.Inf(-1) })), 0, "value"},
		{"no measured_at", measurements(goodM, m(func(m *domain.Measurement) { m.MeasuredAt = time.Time{} })), 1, "measured_at"},
		{"a measurement before 1970", measurements(m(func(m *domain.Measurement) { m.MeasuredAt = time.Unix(-1, 0) })), 0, "measured_at"},
		{"a measurement beyond the clock skew", measurements(goodM, m(func(m *domain.Measurement) { m.MeasuredAt = now.Add(15*time.Minute + time.Second) })), 1, "measured_at"},
		{"an id with SQL metacharacters", measurements(m(func(m *domain.Measurement) { m.ID = "x'; DROP TABLE events;--" })), 0, "id"},
		{"an id with path traversal", measurements(goodM, m(func(m *domain.Measurement) { m.ID = "../../etc/passwd" })), 1, "id"},
		{"an id of invalid UTF-8", measurements(m(func(m *domain.Measurement) { m.ID = "a\xff\xfeb" })), 0, "id"},
		{"an id of 129 characters", measurements(m(func(m *domain.Measurement) { m.ID = strings.Repeat("i", 129) })), 0, "id"},
		{"no vehicle events", events(), -1, "events"},
		{"vehicle events over the item limit", events(make([]domain.VehicleEvent, domain.MaxBatchItems+1)...), -1, "events"},
		{"an eid breaking its pattern", events(goodE, e(func(e *domain.VehicleEvent) { e.EID = "-e" })), 1, "eid"},
		{"an event type breaking the name pattern", events(e(func(e *domain.VehicleEvent) { e.Type = "Door Opened" })), 0, "type"},
		{"no occurred_at", events(goodE, goodE, e(func(e *domain.VehicleEvent) { e.OccurredAt = time.Time{} })), 2, "occurred_at"},
		{"an event beyond the clock skew", events(e(func(e *domain.VehicleEvent) { e.OccurredAt = now.Add(time.Hour) })), 0, "occurred_at"},
		{"a reading name breaking the pattern", events(goodE, e(func(e *domain.VehicleEvent) { e.Readings = map[string]float64{"Speed": 1} })), 1, "readings"},
		{"a NaN reading", events(e(func(e *domain.VehicleEvent) { e.Readings = map[string]float64{"rpm": math.NaN()} })), 0, "readings.rpm"},
		{"a latitude beyond 90", events(goodE, e(func(e *domain.VehicleEvent) { e.Location = &domain.Location{Lat: 91} })), 1, "location.lat"},
		{"data that is no object", events(e(func(e *domain.VehicleEvent) { e.Data = json.RawMessage(`[1]`) })), 0, "data"},
		{"data nested too deep", events(e(func(e *domain.VehicleEvent) {
			e.Data = json.RawMessage(`{"a":` + strings.Repeat("[", domain.MaxDataDepth) + strings.Repeat("]", domain.MaxDataDepth) + `}`)
		})), 0, "data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			err := f.refused(domain.ErrInvalid, func() (commands.Outcome, error) { return tc.send(f) })
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Index != tc.index || ve.Field != tc.field {
				t.Fatalf("got %v, want a validation error on item %d, field %q", err, tc.index, tc.field)
			}
		})
	}
}

// TestTelemetry_TimestampsMayRunAheadOfTheClockByThePolicysSkewOnly: the
// handlers' clock, not the machine's, is "now" (it stands in 2020 here),
// and the policy says how far ahead of it a device clock may be.
func TestTelemetry_TimestampsMayRunAheadOfTheClockByThePolicysSkewOnly(t *testing.T) {
	clock := time.Date(2020, 2, 29, 23, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		skew   time.Duration
		at     time.Time
		refuse bool
	}{
		{"now, without skew", 0, clock, false},
		{"a nanosecond ahead, without skew", 0, clock.Add(time.Nanosecond), true},
		{"just at the 15-minute skew", 15 * time.Minute, clock.Add(15 * time.Minute), false},
		{"a second past the 15-minute skew", 15 * time.Minute, clock.Add(15*time.Minute + time.Second), true},
		{"59 minutes ahead with an hour of skew", time.Hour, clock.Add(59 * time.Minute), false},
		{"the machine's time, years after the clock", time.Hour, time.Now(), true},
		{"long ago", 0, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), false},
	} {
		for _, k := range []string{"measurements", "vehicle events"} {
			t.Run(tc.name+"/"+k, func(t *testing.T) {
				f := newFixtureOn(t, domain.TelemetryPolicy{MaxFutureSkew: tc.skew}, clock)
				send := func() (commands.Outcome, error) {
					if k == "measurements" {
						return f.recordMeasurements(device(stationA), stationA, domain.Measurement{Type: "pm25", Value: 1, MeasuredAt: tc.at})
					}
					return f.recordVehicleEvents(device(vehicleA), vehicleA, domain.VehicleEvent{Type: "telemetry", OccurredAt: tc.at})
				}
				if tc.refuse {
					f.refused(domain.ErrInvalid, send)
					return
				}
				f.must(send())
			})
		}
	}
}
