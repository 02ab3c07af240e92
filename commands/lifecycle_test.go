package commands_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

func registerStation(f *fixture, id string) (commands.Outcome, error) {
	return f.app.RegisterStation.Handle(f.ctx, &commands.RegisterStation{Caller: operator, ID: id, Profile: stationProfile(id), TokenHash: tokenHash(id)})
}

func registerVehicle(f *fixture, id string) (commands.Outcome, error) {
	return f.app.RegisterVehicle.Handle(f.ctx, &commands.RegisterVehicle{Caller: operator, VID: id, Profile: vehicleProfile(id), TokenHash: tokenHash(id)})
}

// TestRegister_ANewDeviceStartsItsStreamAtVersionZero: the outcome names
// the device and its version, and the registration is the device stream's
// only event.
func TestRegister_ANewDeviceStartsItsStreamAtVersionZero(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(*fixture, string) (commands.Outcome, error)
		want     domain.Event
	}{
		{"station", registerStation, domain.StationRegistered{StationID: "new", StationProfile: stationProfile("new"), TokenHash: tokenHash("new"), RegisteredAt: now}},
		{"vehicle", registerVehicle, domain.VehicleRegistered{VID: "new", VehicleProfile: vehicleProfile("new"), TokenHash: tokenHash("new"), RegisteredAt: now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			out := f.must(tc.register(f, "new"))
			if !reflect.DeepEqual(out, commands.Outcome{ID: "new", Version: 0}) {
				t.Fatalf("outcome %+v, want id new at version 0", out)
			}
			got := f.decoded(domain.DeviceStream("new"))
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Fatalf("device stream holds %+v, want [%+v]", got, tc.want)
			}
		})
	}
}

// TestRegister_AnIDTakenByADeviceOfEitherKindIsErrDeviceExists: stations
// and vehicles share one id namespace.
func TestRegister_AnIDTakenByADeviceOfEitherKindIsErrDeviceExists(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(*fixture, string) (commands.Outcome, error)
		taken    string
	}{
		{"station over a station", registerStation, stationA},
		{"station over a vehicle", registerStation, vehicleA},
		{"vehicle over a vehicle", registerVehicle, vehicleA},
		{"vehicle over a station", registerVehicle, stationA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.refused(domain.ErrDeviceExists, func() (commands.Outcome, error) { return tc.register(f, tc.taken) })
		})
	}
}

// TestRegister_InvalidInputIsRefusedNamingTheField: the domain checks the
// id, the profile and the token before anything is stored.
func TestRegister_InvalidInputIsRefusedNamingTheField(t *testing.T) {
	badStation := func(mutate func(*commands.RegisterStation)) func(*fixture) (commands.Outcome, error) {
		return func(f *fixture) (commands.Outcome, error) {
			cmd := commands.RegisterStation{Caller: operator, ID: "new", Profile: stationProfile("new"), TokenHash: tokenHash("new")}
			mutate(&cmd)
			return f.app.RegisterStation.Handle(f.ctx, &cmd)
		}
	}
	badVehicle := func(mutate func(*commands.RegisterVehicle)) func(*fixture) (commands.Outcome, error) {
		return func(f *fixture) (commands.Outcome, error) {
			cmd := commands.RegisterVehicle{Caller: operator, VID: "new", Profile: vehicleProfile("new"), TokenHash: tokenHash("new")}
			mutate(&cmd)
			return f.app.RegisterVehicle.Handle(f.ctx, &cmd)
		}
	}
	for _, tc := range []struct {
		name  string
		send  func(*fixture) (commands.Outcome, error)
		field string
	}{
		{"station id with a dot", badStation(func(c *commands.RegisterStation) { c.ID = "a.b" }), "id"},
		{"empty station id", badStation(func(c *commands.RegisterStation) { c.ID = "" }), "id"},
		{"station without a name", badStation(func(c *commands.RegisterStation) { c.Profile.Name = " " }), "name"},
		{"station latitude beyond 90", badStation(func(c *commands.RegisterStation) { c.Profile.Location.Lat = 90.5 }), "location.lat"},
		{"station in an unknown zone", badStation(func(c *commands.RegisterStation) { c.Profile.TimeZone = "Mars/Olympus" }), "timezone"},
		{"station without a token", badStation(func(c *commands.RegisterStation) { c.TokenHash = nil }), "token"},
		{"vid of 65 characters", badVehicle(func(c *commands.RegisterVehicle) { c.VID = strings.Repeat("v", 65) }), "vid"},
		{"vehicle with a malformed VIN", badVehicle(func(c *commands.RegisterVehicle) { c.Profile.VIN = "IOQ" }), "vin"},
		{"vehicle without a token", badVehicle(func(c *commands.RegisterVehicle) { c.TokenHash = nil }), "token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			err := f.refused(domain.ErrInvalid, func() (commands.Outcome, error) { return tc.send(f) })
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("got %v, want a validation error on %q", err, tc.field)
			}
		})
	}
}

// change is a command that changes an existing device with an optional
// expected version.
type change struct {
	name   string
	device string
	send   func(f *fixture, id string, expected *int64) (commands.Outcome, error)
}

func changes() []change {
	return []change{
		{"UpdateStation", stationA, updateStation},
		{"UpdateVehicle", vehicleA, updateVehicle},
		{"DecommissionStation", stationA, decommissionStation},
		{"DecommissionVehicle", vehicleA, decommissionVehicle},
	}
}

func updateStation(f *fixture, id string, expected *int64) (commands.Outcome, error) {
	return f.app.UpdateStation.Handle(f.ctx, &commands.UpdateStation{Caller: operator, ID: id, Profile: stationProfile("renamed"), ExpectedVersion: expected})
}

func updateVehicle(f *fixture, id string, expected *int64) (commands.Outcome, error) {
	return f.app.UpdateVehicle.Handle(f.ctx, &commands.UpdateVehicle{Caller: operator, VID: id, Profile: vehicleProfile("renamed"), ExpectedVersion: expected})
}

func decommissionStation(f *fixture, id string, expected *int64) (commands.Outcome, error) {
	return f.app.DecommissionStation.Handle(f.ctx, &commands.DecommissionStation{Caller: operator, ID: id, ExpectedVersion: expected})
}

func decommissionVehicle(f *fixture, id string, expected *int64) (commands.Outcome, error) {
	return f.app.DecommissionVehicle.Handle(f.ctx, &commands.DecommissionVehicle{Caller: operator, VID: id, ExpectedVersion: expected})
}

func version(v int64) *int64 { return &v }

// TestChange_AnExpectedVersionMustBeTheDevicesCurrentOne: each device was
// changed once (version 1) before the command; a stale or future expected
// version is a conflict and stores nothing, the current one or none at all
// goes through and the outcome carries the new version.
func TestChange_AnExpectedVersionMustBeTheDevicesCurrentOne(t *testing.T) {
	for _, c := range changes() {
		for _, tc := range []struct {
			name     string
			expected *int64
			conflict bool
		}{
			{"no expected version", nil, false},
			{"the current version", version(1), false},
			{"a stale version", version(0), true},
			{"a version ahead", version(2), true},
		} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				f.must(f.app.RotateDeviceToken.Handle(f.ctx, &commands.RotateDeviceToken{Caller: operator, DeviceID: c.device, TokenHash: tokenHash("x")}))
				if tc.conflict {
					f.refused(domain.ErrVersionConflict, func() (commands.Outcome, error) { return c.send(f, c.device, tc.expected) })
					return
				}
				out := f.must(c.send(f, c.device, tc.expected))
				if out.ID != c.device || out.Version != 2 {
					t.Fatalf("outcome %+v, want id %s at version 2", out, c.device)
				}
			})
		}
	}
}

// TestChange_AConcurrentChangeIsAVersionConflict: the append expects the
// version the decision saw, so a change stored between the load and the
// append is not overwritten.
func TestChange_AConcurrentChangeIsAVersionConflict(t *testing.T) {
	for _, c := range changes() {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			racing := &racingStore{EventStore: f.store, before: func() {
				f.must(f.app.RotateDeviceToken.Handle(f.ctx, &commands.RotateDeviceToken{Caller: operator, DeviceID: c.device, TokenHash: tokenHash("x")}))
			}}
			f.app = commands.NewApplication(racing, func() time.Time { return now }, domain.DefaultTelemetryPolicy)
			_, err := c.send(f, c.device, nil)
			if !errors.Is(err, domain.ErrVersionConflict) {
				t.Fatalf("got %v, want domain.ErrVersionConflict", err)
			}
			if n := len(f.events(domain.DeviceStream(c.device))); n != 2 {
				t.Fatalf("device stream holds %d events, want 2 (registration and the racing rotation)", n)
			}
		})
	}
}

// racingStore runs before once, just before the first append to a device
// stream: a writer that got there first.
type racingStore struct {
	commands.EventStore
	before func()
	done   bool
}

func (s *racingStore) Append(ctx context.Context, stream string, expected int64, events []domain.EventData) (domain.AppendResult, error) {
	if !s.done && strings.HasPrefix(stream, domain.DeviceStream("")) {
		s.done = true
		s.before()
	}
	return s.EventStore.Append(ctx, stream, expected, events)
}

// TestLifecycle_ADecommissionedDeviceTakesNoTelemetryAndNoChanges: after
// decommissioning, its own token, nor the operator, may record telemetry,
// change its profile, decommission it again or touch its token.
func TestLifecycle_ADecommissionedDeviceTakesNoTelemetryAndNoChanges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		device string
		send   func(f *fixture) (commands.Outcome, error)
	}{
		{"the station's measurements", stationA, func(f *fixture) (commands.Outcome, error) {
			return f.recordMeasurements(device(stationA), stationA, pm25("m2", 1))
		}},
		{"measurements sent by the operator", stationA, func(f *fixture) (commands.Outcome, error) {
			return f.recordMeasurements(operator, stationA, pm25("m2", 1))
		}},
		{"the vehicle's events", vehicleA, func(f *fixture) (commands.Outcome, error) {
			return f.recordVehicleEvents(device(vehicleA), vehicleA, speed("e1", 1))
		}},
		{"vehicle events sent by the operator", vehicleA, func(f *fixture) (commands.Outcome, error) {
			return f.recordVehicleEvents(operator, vehicleA, speed("e1", 1))
		}},
		{"a station update", stationA, func(f *fixture) (commands.Outcome, error) { return updateStation(f, stationA, nil) }},
		{"a vehicle update", vehicleA, func(f *fixture) (commands.Outcome, error) { return updateVehicle(f, vehicleA, nil) }},
		{"a second station decommission", stationA, func(f *fixture) (commands.Outcome, error) { return decommissionStation(f, stationA, nil) }},
		{"a second vehicle decommission", vehicleA, func(f *fixture) (commands.Outcome, error) { return decommissionVehicle(f, vehicleA, nil) }},
		{"a token rotation", vehicleA, func(f *fixture) (commands.Outcome, error) {
			return f.app.RotateDeviceToken.Handle(f.ctx, &commands.RotateDeviceToken{Caller: operator, DeviceID: vehicleA, TokenHash: tokenHash("x")})
		}},
		{"a token revocation", stationA, func(f *fixture) (commands.Outcome, error) {
			return f.app.RevokeDeviceToken.Handle(f.ctx, &commands.RevokeDeviceToken{Caller: operator, DeviceID: stationA})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			decommission := decommissionStation
			if tc.device == vehicleA {
				decommission = decommissionVehicle
			}
			f.must(decommission(f, tc.device, nil))
			f.refused(domain.ErrDeviceDecommissioned, func() (commands.Outcome, error) { return tc.send(f) })
		})
	}
}

// TestLifecycle_ACommandForTheOtherKindOfDeviceIsNotFound: a station id
// is no vehicle and a vehicle id no station, even to the device itself.
func TestLifecycle_ACommandForTheOtherKindOfDeviceIsNotFound(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(f *fixture) (commands.Outcome, error)
	}{
		{"measurements to a vehicle, by the operator", func(f *fixture) (commands.Outcome, error) {
			return f.recordMeasurements(operator, vehicleA, pm25("m2", 1))
		}},
		{"measurements to a vehicle, by the vehicle", func(f *fixture) (commands.Outcome, error) {
			return f.recordMeasurements(device(vehicleA), vehicleA, pm25("m2", 1))
		}},
		{"vehicle events to a station, by the operator", func(f *fixture) (commands.Outcome, error) {
			return f.recordVehicleEvents(operator, stationA, speed("e1", 1))
		}},
		{"vehicle events to a station, by the station", func(f *fixture) (commands.Outcome, error) {
			return f.recordVehicleEvents(device(stationA), stationA, speed("e1", 1))
		}},
		{"a station update of a vehicle", func(f *fixture) (commands.Outcome, error) { return updateStation(f, vehicleA, nil) }},
		{"a vehicle update of a station", func(f *fixture) (commands.Outcome, error) { return updateVehicle(f, stationA, nil) }},
		{"a station decommission of a vehicle", func(f *fixture) (commands.Outcome, error) { return decommissionStation(f, vehicleA, nil) }},
		{"a vehicle decommission of a station", func(f *fixture) (commands.Outcome, error) { return decommissionVehicle(f, stationA, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.refused(domain.ErrDeviceNotFound, func() (commands.Outcome, error) { return tc.send(f) })
		})
	}
}

// TestLifecycle_AnUnknownDeviceIsNotFound sends every command that names an
// existing device, as the operator, to ids no device has: one that could
// be registered, and ones no device can have (the store is never asked
// about those: PostgreSQL text cannot even hold a NUL).
func TestLifecycle_AnUnknownDeviceIsNotFound(t *testing.T) {
	ids := []string{"nope", "", "a.b", "../../etc/passwd", "nul\x00", "\xff\xfe", strings.Repeat("x", 65), "st-a' OR '1'='1"}
	sends := map[string]func(f *fixture, id string) (commands.Outcome, error){
		"RecordMeasurements": func(f *fixture, id string) (commands.Outcome, error) {
			return f.recordMeasurements(operator, id, pm25("m2", 1))
		},
		"RecordVehicleEvents": func(f *fixture, id string) (commands.Outcome, error) {
			return f.recordVehicleEvents(operator, id, speed("e1", 1))
		},
		"RotateDeviceToken": func(f *fixture, id string) (commands.Outcome, error) {
			return f.app.RotateDeviceToken.Handle(f.ctx, &commands.RotateDeviceToken{Caller: operator, DeviceID: id, TokenHash: tokenHash("x")})
		},
		"RevokeDeviceToken": func(f *fixture, id string) (commands.Outcome, error) {
			return f.app.RevokeDeviceToken.Handle(f.ctx, &commands.RevokeDeviceToken{Caller: operator, DeviceID: id})
		},
		"CorrectMeasurement": func(f *fixture, id string) (commands.Outcome, error) {
			return f.app.CorrectMeasurement.Handle(f.ctx, &commands.CorrectMeasurement{Caller: operator, StationID: id, MeasurementID: measurementM1, Value: 1, Reason: "r", Actor: "a"})
		},
		"RetractMeasurement": func(f *fixture, id string) (commands.Outcome, error) {
			return f.app.RetractMeasurement.Handle(f.ctx, &commands.RetractMeasurement{Caller: operator, StationID: id, MeasurementID: measurementM1, Reason: "r", Actor: "a"})
		},
	}
	for _, c := range changes() {
		sends[c.name] = func(f *fixture, id string) (commands.Outcome, error) { return c.send(f, id, nil) }
	}
	for name, send := range sends {
		for _, id := range ids {
			t.Run(name+"/"+id, func(t *testing.T) {
				f := newFixture(t)
				spy := &streamSpy{EventStore: f.store}
				f.app = commands.NewApplication(spy, func() time.Time { return now }, domain.DefaultTelemetryPolicy)
				f.refused(domain.ErrDeviceNotFound, func() (commands.Outcome, error) { return send(f, id) })
				if domain.ValidateDeviceID("id", id) != nil && len(spy.read) > 0 {
					t.Fatalf("the store was asked for %q about an id no device can have", spy.read)
				}
			})
		}
	}
}

// streamSpy records which streams were read.
type streamSpy struct {
	commands.EventStore
	read []string
}

func (s *streamSpy) ReadStream(ctx context.Context, stream string) ([]domain.RecordedEvent, error) {
	s.read = append(s.read, stream)
	return s.EventStore.ReadStream(ctx, stream)
}
