package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// TestOutcome_AFailureCrossesABusWithItsSentinel: a handler's error,
// carried in the outcome as JSON, comes back wrapping the same domain
// sentinel; a validation error keeps its index and field.
func TestOutcome_AFailureCrossesABusWithItsSentinel(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: no domain sentinel
		code string
	}{
		{"not found", fmt.Errorf("device %q: %w", "x", domain.ErrDeviceNotFound), domain.ErrDeviceNotFound, domain.CodeNotFound},
		{"exists", fmt.Errorf("device %q: %w", "x", domain.ErrDeviceExists), domain.ErrDeviceExists, domain.CodeExists},
		{"conflict", domain.ErrVersionConflict, domain.ErrVersionConflict, domain.CodeConflict},
		{"decommissioned", domain.ErrDeviceDecommissioned, domain.ErrDeviceDecommissioned, domain.CodeDecommissioned},
		{"no measurement", domain.ErrMeasurementNotFound, domain.ErrMeasurementNotFound, domain.CodeNoMeasurement},
		{"unauthenticated", domain.ErrUnauthenticated, domain.ErrUnauthenticated, domain.CodeUnauthorized},
		{"forbidden", fmt.Errorf("operator route: %w", domain.ErrForbidden), domain.ErrForbidden, domain.CodeForbidden},
		{"unavailable", fmt.Errorf("%w: down", domain.ErrUnavailable), domain.ErrUnavailable, domain.CodeUnavailable},
		{"deadline passed", fmt.Errorf("load: %w", context.DeadlineExceeded), domain.ErrUnavailable, domain.CodeUnavailable},
		{"anything else", errors.New("disk on fire"), nil, domain.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			back := roundTrip(t, commands.Failed(tc.err))
			if back.ErrCode != tc.code {
				t.Fatalf("code %q, want %q", back.ErrCode, tc.code)
			}
			err := back.Err()
			if err == nil || err.Error() != tc.err.Error() {
				t.Fatalf("error %v, want the message %q", err, tc.err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v does not wrap %v", err, tc.want)
			}
		})
	}

	t.Run("validation", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.recordMeasurements(operator, stationA, pm25("", 1), domain.Measurement{Type: "pm25", Value: 1})
		var sent, got *domain.ValidationError
		if !errors.As(err, &sent) {
			t.Fatalf("setup: %v", err)
		}
		if back := roundTrip(t, commands.Failed(err)).Err(); !errors.As(back, &got) || !reflect.DeepEqual(got, sent) || !errors.Is(back, domain.ErrInvalid) {
			t.Fatalf("got %#v, want %#v wrapping domain.ErrInvalid", back, sent)
		}
	})
}

// TestOutcome_ASuccessCarriesNoError, also after a trip through JSON.
func TestOutcome_ASuccessCarriesNoError(t *testing.T) {
	out := commands.Outcome{ID: "veh-a", Version: 4, Accepted: 2, Duplicates: 1, EIDs: []string{"e1", "e2", "e3"}}
	back := roundTrip(t, out)
	if back.Err() != nil || !reflect.DeepEqual(back, out) {
		t.Fatalf("got %+v (%v), want %+v", back, back.Err(), out)
	}
}

func roundTrip(t *testing.T, out commands.Outcome) commands.Outcome {
	t.Helper()
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var back commands.Outcome
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}
