package commands_test

import (
	"errors"
	"testing"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

func TestReadKeys_OnlyTheOperatorCreatesAndRevokes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		caller commands.Caller
		want   error
	}{
		{"no token", commands.Caller{}, domain.ErrUnauthenticated},
		{"a forged device token", commands.Caller{DeviceID: stationA, TokenHash: tokenHash("forged")}, domain.ErrUnauthenticated},
		{"a device", device(stationA), domain.ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			_, hash := domain.NewReadKey("k1")
			before := f.head()
			_, err := f.app.CreateReadKey.Handle(f.ctx, &commands.CreateReadKey{Caller: tc.caller, KeyID: "k1", Name: "wall", KeyHash: hash})
			if !errors.Is(err, tc.want) {
				t.Fatalf("create: err = %v, want %v", err, tc.want)
			}
			if f.head() != before {
				t.Fatal("a refused creation stored an event")
			}
			f.must(f.app.CreateReadKey.Handle(f.ctx, &commands.CreateReadKey{Caller: operator, KeyID: "k1", Name: "wall", KeyHash: hash}))
			before = f.head()
			if _, err := f.app.RevokeReadKey.Handle(f.ctx, &commands.RevokeReadKey{Caller: tc.caller, KeyID: "k1"}); !errors.Is(err, tc.want) {
				t.Fatalf("revoke: err = %v, want %v", err, tc.want)
			}
			if f.head() != before {
				t.Fatal("a refused revocation stored an event")
			}
		})
	}
}

func TestReadKeys_CreateScopedToKnownDevicesThenRevokeOnce(t *testing.T) {
	f := newFixture(t)
	_, hash := domain.NewReadKey("k1")
	if _, err := f.app.CreateReadKey.Handle(f.ctx, &commands.CreateReadKey{Caller: operator, KeyID: "k1", Name: "depot", Devices: []string{stationA, "st-ghost"}, KeyHash: hash}); !errors.Is(err, domain.ErrDeviceNotFound) {
		t.Fatalf("scope with an unknown device: err = %v, want ErrDeviceNotFound", err)
	}
	f.must(f.app.CreateReadKey.Handle(f.ctx, &commands.CreateReadKey{Caller: operator, KeyID: "k1", Name: "depot", Devices: []string{vehicleA, stationA}, KeyHash: hash}))
	if _, err := f.app.CreateReadKey.Handle(f.ctx, &commands.CreateReadKey{Caller: operator, KeyID: "k1", Name: "again", KeyHash: hash}); !errors.Is(err, domain.ErrVersionConflict) {
		t.Fatalf("a second key of the same id: err = %v, want ErrVersionConflict", err)
	}
	if _, err := f.app.RevokeReadKey.Handle(f.ctx, &commands.RevokeReadKey{Caller: operator, KeyID: "k-none"}); !errors.Is(err, domain.ErrReadKeyNotFound) {
		t.Fatalf("revoke an unknown key: err = %v, want ErrReadKeyNotFound", err)
	}
	out := f.must(f.app.RevokeReadKey.Handle(f.ctx, &commands.RevokeReadKey{Caller: operator, KeyID: "k1"}))
	if out.Accepted != 1 {
		t.Fatalf("first revocation: %+v, want one event", out)
	}
	before := f.head()
	f.must(f.app.RevokeReadKey.Handle(f.ctx, &commands.RevokeReadKey{Caller: operator, KeyID: "k1"}))
	if f.head() != before {
		t.Fatal("revoking a revoked key stored another event")
	}
}
