package commands_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// write is one command an operator may send to the fixture's own device of
// a kind (stationA or vehicleA); deviceMay says that device may send it too.
type write struct {
	handler   string // the Application field that handles it
	own       string // the device the command is about (or, to register, the caller's own device of that kind)
	deviceMay bool
	send      func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error)
}

// writes lists every command: the ones of one kind of device, and the ones
// that take any device on a station and on a vehicle.
func writes() []write {
	ws := []write{
		{"RegisterStation", stationA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.RegisterStation.Handle(ctx, &commands.RegisterStation{Caller: c, ID: "st-new", Profile: stationProfile("new"), TokenHash: tokenHash("new")})
		}},
		{"RecordMeasurements", stationA, true, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.RecordMeasurements.Handle(ctx, &commands.RecordMeasurements{Caller: c, StationID: stationA, Measurements: []domain.Measurement{pm25("m2", 1)}})
		}},
		{"UpdateStation", stationA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.UpdateStation.Handle(ctx, &commands.UpdateStation{Caller: c, ID: stationA, Profile: stationProfile("renamed")})
		}},
		{"DecommissionStation", stationA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.DecommissionStation.Handle(ctx, &commands.DecommissionStation{Caller: c, ID: stationA})
		}},
		{"CorrectMeasurement", stationA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.CorrectMeasurement.Handle(ctx, &commands.CorrectMeasurement{Caller: c, StationID: stationA, MeasurementID: measurementM1, Value: 2, Reason: "recalibrated", Actor: "ops"})
		}},
		{"RetractMeasurement", stationA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.RetractMeasurement.Handle(ctx, &commands.RetractMeasurement{Caller: c, StationID: stationA, MeasurementID: measurementM1, Reason: "sensor fault", Actor: "ops"})
		}},
		{"RegisterVehicle", vehicleA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.RegisterVehicle.Handle(ctx, &commands.RegisterVehicle{Caller: c, VID: "veh-new", Profile: vehicleProfile("new"), TokenHash: tokenHash("new")})
		}},
		{"RecordVehicleEvents", vehicleA, true, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.RecordVehicleEvents.Handle(ctx, &commands.RecordVehicleEvents{Caller: c, VID: vehicleA, Events: []domain.VehicleEvent{speed("e1", 10)}})
		}},
		{"UpdateVehicle", vehicleA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.UpdateVehicle.Handle(ctx, &commands.UpdateVehicle{Caller: c, VID: vehicleA, Profile: vehicleProfile("renamed")})
		}},
		{"DecommissionVehicle", vehicleA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.DecommissionVehicle.Handle(ctx, &commands.DecommissionVehicle{Caller: c, VID: vehicleA})
		}},
		{"RegisterWebhook", stationA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.RegisterWebhook.Handle(ctx, &commands.RegisterWebhook{Caller: c, ID: "hook-new", URL: "https://hooks.example.com/new", Secret: "0123456789abcdef"})
		}},
		{"RemoveWebhook", vehicleA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.RemoveWebhook.Handle(ctx, &commands.RemoveWebhook{Caller: c, ID: webhookA})
		}},
		{"EnableWebhook", vehicleA, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
			return f.app.EnableWebhook.Handle(ctx, &commands.EnableWebhook{Caller: c, ID: webhookOff})
		}},
	}
	for _, id := range []string{stationA, vehicleA} {
		ws = append(ws,
			write{"CreateReadKey", id, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
				_, hash := domain.NewReadKey("k-new")
				return f.app.CreateReadKey.Handle(ctx, &commands.CreateReadKey{Caller: c, KeyID: "k-new", Name: "scoped", Devices: []string{id}, KeyHash: hash})
			}},
			write{"RevokeReadKey", id, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
				return f.app.RevokeReadKey.Handle(ctx, &commands.RevokeReadKey{Caller: c, KeyID: readKeyK1})
			}},
			write{"SetAlertRule", id, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
				return f.app.SetAlertRule.Handle(ctx, &commands.SetAlertRule{Caller: c, DeviceID: id, Rule: "high", Type: "pm25", Above: 50, For: 10 * time.Minute})
			}},
			write{"RotateDeviceToken", id, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
				return f.app.RotateDeviceToken.Handle(ctx, &commands.RotateDeviceToken{Caller: c, DeviceID: id, TokenHash: tokenHash("rotated")})
			}},
			write{"RevokeDeviceToken", id, false, func(f *fixture, ctx context.Context, c commands.Caller) (commands.Outcome, error) {
				return f.app.RevokeDeviceToken.Handle(ctx, &commands.RevokeDeviceToken{Caller: c, DeviceID: id})
			}})
	}
	return ws
}

// TestAuthorization_EveryCommandAuthorizesItsCaller sends every command as
// every kind of caller. Only the operator, and a device sending its own
// telemetry, may write; a caller without a valid token is unauthenticated,
// a valid device token where it does not belong is forbidden; every refusal
// stores nothing.
func TestAuthorization_EveryCommandAuthorizesItsCaller(t *testing.T) {
	other := map[string]string{stationA: vehicleA, vehicleA: stationA}
	sibling := map[string]string{stationA: stationB, vehicleA: vehicleB}
	callers := []struct {
		name   string
		caller func(own string) commands.Caller
		want   func(w write) error // nil: the command succeeds
	}{
		{"no token", func(string) commands.Caller { return commands.Caller{} }, refuse(domain.ErrUnauthenticated)},
		{"own id without a token", func(own string) commands.Caller { return commands.Caller{DeviceID: own} }, refuse(domain.ErrUnauthenticated)},
		{"own id with a wrong token", func(own string) commands.Caller {
			return commands.Caller{DeviceID: own, TokenHash: tokenHash("forged")}
		}, refuse(domain.ErrUnauthenticated)},
		{"a token of no device", func(string) commands.Caller { return device("ghost") }, refuse(domain.ErrUnauthenticated)},
		{"an id no device can have", func(string) commands.Caller { return device("../x\x00") }, refuse(domain.ErrUnauthenticated)},
		{"another device of the same kind", func(own string) commands.Caller { return device(sibling[own]) }, refuse(domain.ErrForbidden)},
		{"a device of the other kind", func(own string) commands.Caller { return device(other[own]) }, refuse(domain.ErrForbidden)},
		{"the device itself", device, func(w write) error {
			if w.deviceMay {
				return nil
			}
			return domain.ErrForbidden
		}},
		{"the operator", func(string) commands.Caller { return operator }, func(write) error { return nil }},
	}
	for _, c := range callers {
		for _, w := range writes() {
			t.Run(c.name+"/"+w.handler+" on "+w.own, func(t *testing.T) {
				f := newFixture(t)
				want := c.want(w)
				if want != nil {
					f.refused(want, func() (commands.Outcome, error) { return w.send(f, f.ctx, c.caller(w.own)) })
					return
				}
				before := f.head()
				if _, err := w.send(f, f.ctx, c.caller(w.own)); err != nil {
					t.Fatalf("got %v, want success", err)
				}
				if f.head() == before {
					t.Fatal("the command succeeded but stored nothing")
				}
			})
		}
	}
}

func refuse(err error) func(write) error { return func(write) error { return err } }

// TestAuthorization_EveryHandlerIsInTheMatrix keeps the matrix above
// honest: a new handler fails here until it is added to writes.
func TestAuthorization_EveryHandlerIsInTheMatrix(t *testing.T) {
	var listed []string
	for _, w := range writes() {
		listed = append(listed, w.handler)
	}
	app := reflect.TypeFor[commands.Application]()
	for i := range app.NumField() {
		if name := app.Field(i).Name; !slices.Contains(listed, name) {
			t.Errorf("handler %s is not in writes", name)
		}
	}
}

// TestTokens_ARevokedTokenStopsWorkingUntilANewOneIsRotatedIn follows one
// station's token through revocation and rotation: the revoked token and,
// after rotation, the old one are unauthenticated; the rotated one works.
func TestTokens_ARevokedTokenStopsWorkingUntilANewOneIsRotatedIn(t *testing.T) {
	f := newFixture(t)
	old := device(stationA)
	rotated := commands.Caller{DeviceID: stationA, TokenHash: tokenHash("rotated")}
	f.must(f.app.RevokeDeviceToken.Handle(f.ctx, &commands.RevokeDeviceToken{Caller: operator, DeviceID: stationA}))
	f.refused(domain.ErrUnauthenticated, func() (commands.Outcome, error) { return f.recordMeasurements(old, stationA, pm25("m2", 1)) })
	// Revoked, its token is no device's: on another station it is not even forbidden.
	f.refused(domain.ErrUnauthenticated, func() (commands.Outcome, error) { return f.recordMeasurements(old, stationB, pm25("m2", 1)) })
	f.must(f.recordMeasurements(operator, stationA, pm25("m2", 1)))

	f.must(f.app.RotateDeviceToken.Handle(f.ctx, &commands.RotateDeviceToken{Caller: operator, DeviceID: stationA, TokenHash: rotated.TokenHash}))
	f.must(f.recordMeasurements(rotated, stationA, pm25("m3", 1)))
	f.refused(domain.ErrUnauthenticated, func() (commands.Outcome, error) { return f.recordMeasurements(old, stationA, pm25("m4", 1)) })
}

// TestTokens_ARotatedTokenReplacesTheOldOne: rotation alone, without a
// revocation first, ends the old token at once.
func TestTokens_ARotatedTokenReplacesTheOldOne(t *testing.T) {
	for _, id := range []string{stationA, vehicleA} {
		t.Run(id, func(t *testing.T) {
			f := newFixture(t)
			rotated := commands.Caller{DeviceID: id, TokenHash: tokenHash("rotated")}
			out := f.must(f.app.RotateDeviceToken.Handle(f.ctx, &commands.RotateDeviceToken{Caller: operator, DeviceID: id, TokenHash: rotated.TokenHash}))
			if out.ID != id || out.Version != 1 {
				t.Fatalf("rotation outcome %+v, want id %s at version 1", out, id)
			}
			send := func(c commands.Caller) (commands.Outcome, error) {
				if id == vehicleA {
					return f.recordVehicleEvents(c, id, speed("", 1))
				}
				return f.recordMeasurements(c, id, pm25("", 1))
			}
			f.refused(domain.ErrUnauthenticated, func() (commands.Outcome, error) { return send(device(id)) })
			f.must(send(rotated))
		})
	}
}

// TestTokens_RotationNeedsANewTokenHash: an empty hash would leave the
// device without a token while looking rotated.
func TestTokens_RotationNeedsANewTokenHash(t *testing.T) {
	f := newFixture(t)
	f.refused(domain.ErrInvalid, func() (commands.Outcome, error) {
		return f.app.RotateDeviceToken.Handle(f.ctx, &commands.RotateDeviceToken{Caller: operator, DeviceID: stationA})
	})
	f.must(f.recordMeasurements(device(stationA), stationA, pm25("m2", 1)))
}
