package commands_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// correction is CorrectMeasurement or RetractMeasurement, sent by the
// operator with a valid reason and actor.
type correction struct {
	name string
	send func(f *fixture, stationID, measurementID string) (commands.Outcome, error)
	// invalid sends a command with one bad field, named by the key.
	invalid map[string]func(f *fixture) (commands.Outcome, error)
	// stored is the event a correction of m1 of stationA stores.
	stored domain.Event
}

func corrections() []correction {
	correct := func(f *fixture, mutate func(*commands.CorrectMeasurement)) (commands.Outcome, error) {
		cmd := commands.CorrectMeasurement{Caller: operator, StationID: stationA, MeasurementID: measurementM1, Value: 12.5, Reason: "recalibrated", Actor: "ops"}
		mutate(&cmd)
		return f.app.CorrectMeasurement.Handle(f.ctx, &cmd)
	}
	retract := func(f *fixture, mutate func(*commands.RetractMeasurement)) (commands.Outcome, error) {
		cmd := commands.RetractMeasurement{Caller: operator, StationID: stationA, MeasurementID: measurementM1, Reason: "sensor fault", Actor: "ops"}
		mutate(&cmd)
		return f.app.RetractMeasurement.Handle(f.ctx, &cmd)
	}
	return []correction{
		{
			name: "CorrectMeasurement",
			send: func(f *fixture, stationID, measurementID string) (commands.Outcome, error) {
				return correct(f, func(c *commands.CorrectMeasurement) { c.StationID, c.MeasurementID = stationID, measurementID })
			},
			invalid: map[string]func(f *fixture) (commands.Outcome, error){
				"id": func(f *fixture) (commands.Outcome, error) {
					return correct(f, func(c *commands.CorrectMeasurement) { c.MeasurementID = "../m1" })
				},
				"reason": func(f *fixture) (commands.Outcome, error) {
					return correct(f, func(c *commands.CorrectMeasurement) { c.Reason = " " })
				},
				"actor": func(f *fixture) (commands.Outcome, error) {
					return correct(f, func(c *commands.CorrectMeasurement) { c.Actor = "" })
				},
				"value": func(f *fixture) (commands.Outcome, error) {
					return correct(f, func(c *commands.CorrectMeasurement) { c.Value = math.NaN() })
				},
			},
			stored: domain.MeasurementCorrected{StationID: stationA, MeasurementID: measurementM1, Value: 12.5, Reason: "recalibrated", Actor: "ops", CorrectedAt: now, Measured: m1Measured},
		},
		{
			name: "RetractMeasurement",
			send: func(f *fixture, stationID, measurementID string) (commands.Outcome, error) {
				return retract(f, func(c *commands.RetractMeasurement) { c.StationID, c.MeasurementID = stationID, measurementID })
			},
			invalid: map[string]func(f *fixture) (commands.Outcome, error){
				"id": func(f *fixture) (commands.Outcome, error) {
					return retract(f, func(c *commands.RetractMeasurement) { c.MeasurementID = "" })
				},
				"reason": func(f *fixture) (commands.Outcome, error) {
					return retract(f, func(c *commands.RetractMeasurement) { c.Reason = strings.Repeat("r", 501) })
				},
				"actor": func(f *fixture) (commands.Outcome, error) {
					return retract(f, func(c *commands.RetractMeasurement) { c.Actor = "ops\n" })
				},
			},
			stored: domain.MeasurementRetracted{StationID: stationA, MeasurementID: measurementM1, Reason: "sensor fault", Actor: "ops", RetractedAt: now, Measured: m1Measured},
		},
	}
}

// m1Measured is how a correction names the fixture's measurement m1.
var m1Measured = &domain.Measured{Type: "pm25", At: now.Add(-time.Hour)}

// TestCorrections_AreStoredInTheStationsTelemetryStream: the outcome names
// the measurement; the event follows the measurement in its stream and
// names its type and time, as recorded.
func TestCorrections_AreStoredInTheStationsTelemetryStream(t *testing.T) {
	for _, c := range corrections() {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			out := f.must(c.send(f, stationA, measurementM1))
			if out.ID != measurementM1 || out.Accepted != 1 || out.Version != 1 {
				t.Fatalf("outcome %+v, want m1 accepted at version 1", out)
			}
			got := f.decoded(domain.TelemetryStream(stationA))
			if len(got) != 2 || !reflect.DeepEqual(got[1], c.stored) {
				t.Fatalf("stream holds %+v, want the measurement then %+v", got, c.stored)
			}
		})
	}
}

// TestCorrections_OnlyAMeasurementOfThatStationCanBeCorrected: with a
// store that can tell (an EventFinder), an id never recorded for the
// station is ErrMeasurementNotFound; a vehicle has no measurements at all.
func TestCorrections_OnlyAMeasurementOfThatStationCanBeCorrected(t *testing.T) {
	for _, c := range corrections() {
		for _, tc := range []struct {
			name, station, measurement string
			want                       error
		}{
			{"a measurement never recorded", stationA, "m404", domain.ErrMeasurementNotFound},
			{"another station's measurement", stationA, "m-of-b", domain.ErrMeasurementNotFound},
			{"a vehicle's event", vehicleA, "e1", domain.ErrDeviceNotFound},
			{"an unknown station", "nope", measurementM1, domain.ErrDeviceNotFound},
		} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				f.must(f.recordMeasurements(operator, stationB, pm25("m-of-b", 1)))
				f.must(f.recordVehicleEvents(operator, vehicleA, speed("e1", 1)))
				f.refused(tc.want, func() (commands.Outcome, error) { return c.send(f, tc.station, tc.measurement) })
			})
		}
	}
}

// TestCorrections_WithoutAnEventFinderAnUnknownMeasurementIsStored: a store
// that cannot tell whether an event exists takes the correction, which
// then changes nothing in the read models.
func TestCorrections_WithoutAnEventFinderAnUnknownMeasurementIsStored(t *testing.T) {
	for _, c := range corrections() {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.app = commands.NewApplication(struct{ commands.EventStore }{f.store}, func() time.Time { return now }, domain.DefaultTelemetryPolicy)
			if out := f.must(c.send(f, stationA, "m404")); out.ID != "m404" || out.Accepted != 1 {
				t.Fatalf("outcome %+v, want m404 accepted", out)
			}
		})
	}
}

// TestCorrections_InvalidInputIsRefusedNamingTheField checks the
// measurement id, the reason, the actor and a corrected value.
func TestCorrections_InvalidInputIsRefusedNamingTheField(t *testing.T) {
	for _, c := range corrections() {
		for field, send := range c.invalid {
			t.Run(c.name+"/"+field, func(t *testing.T) {
				f := newFixture(t)
				err := f.refused(domain.ErrInvalid, func() (commands.Outcome, error) { return send(f) })
				var ve *domain.ValidationError
				if !errors.As(err, &ve) || ve.Field != field {
					t.Fatalf("got %v, want a validation error on %q", err, field)
				}
			})
		}
	}
}

// TestCorrections_ADecommissionedStationsHistoryCanStillBeCorrected: a
// decommissioned station takes no new telemetry, but what it recorded stays
// open to an operator's corrections.
func TestCorrections_ADecommissionedStationsHistoryCanStillBeCorrected(t *testing.T) {
	for _, c := range corrections() {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.must(decommissionStation(f, stationA, nil))
			f.must(c.send(f, stationA, measurementM1))
		})
	}
}

// TestCorrections_AMeasurementPastTheCorrectionWindowIsRefused: past the raw
// retention its buckets could no longer be recomputed exactly, so the
// correction is refused (ErrMeasurementExpired) and nothing is stored; one
// inside the window is accepted.
func TestCorrections_AMeasurementPastTheCorrectionWindowIsRefused(t *testing.T) {
	for _, c := range corrections() {
		for _, tc := range []struct {
			name   string
			window time.Duration
			want   error
		}{
			{"m1 measured an hour ago, window 30 minutes", 30 * time.Minute, domain.ErrMeasurementExpired},
			{"m1 measured an hour ago, window 2 hours", 2 * time.Hour, nil},
			{"no window", 0, nil},
		} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				f := newFixtureOn(t, domain.TelemetryPolicy{MaxFutureSkew: time.Minute, CorrectionWindow: tc.window}, now)
				if tc.want == nil {
					f.must(c.send(f, stationA, measurementM1))
					return
				}
				err := f.refused(tc.want, func() (commands.Outcome, error) { return c.send(f, stationA, measurementM1) })
				if !strings.Contains(err.Error(), "raw retention") {
					t.Fatalf("error %q does not say why", err)
				}
			})
		}
	}
}
