package domain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidateMeasurements_NamesTheFirstBadItem(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ok := Measurement{Type: "pm25", Value: 1, MeasuredAt: now}
	tests := []struct {
		name  string
		ms    []Measurement
		index int // -1: valid
		field string
	}{
		{"valid batch", []Measurement{ok, ok}, -1, ""},
		{"NaN value", []Measurement{ok, {Type: "pm25", Value: math.NaN(), MeasuredAt: now}}, 1, "value"},
		{"infinite value", []Measurement{{Type: "pm25", Value: math.Inf(-1), MeasuredAt: now}}, 0, "value"},
		{"type with capitals", []Measurement{{Type: "PM25", Value: 1, MeasuredAt: now}}, 0, "type"},
		{"type too long", []Measurement{{Type: "a" + strings.Repeat("b", 64), Value: 1, MeasuredAt: now}}, 0, "type"},
		{"id with a slash", []Measurement{{ID: "a/b", Type: "pm25", Value: 1, MeasuredAt: now}}, 0, "id"},
		{"missing time", []Measurement{{Type: "pm25", Value: 1}}, 0, "measured_at"},
		{"beyond the skew", []Measurement{{Type: "pm25", Value: 1, MeasuredAt: now.Add(16 * time.Minute)}}, 0, "measured_at"},
		{"within the skew", []Measurement{{Type: "pm25", Value: 1, MeasuredAt: now.Add(14 * time.Minute)}}, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DefaultTelemetryPolicy.ValidateMeasurements(tt.ms, now)
			if tt.index < 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a validation error", err)
			}
			if ve.Index != tt.index || ve.Field != tt.field {
				t.Fatalf("got index %d field %q, want %d %q", ve.Index, ve.Field, tt.index, tt.field)
			}
		})
	}
}

func TestTelemetryPolicy_FutureSkewIsConfigurable(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		skew  time.Duration
		ahead time.Duration
		ok    bool
	}{
		{time.Hour, 59 * time.Minute, true},
		{time.Hour, time.Hour, true},
		{time.Hour, time.Hour + time.Second, false},
		{0, 0, true},
		{0, time.Nanosecond, false},
		{24 * time.Hour, 23 * time.Hour, true},
	}
	for _, tt := range tests {
		p := TelemetryPolicy{MaxFutureSkew: tt.skew}
		m := []Measurement{{Type: "pm25", Value: 1, MeasuredAt: now.Add(tt.ahead)}}
		e := []VehicleEvent{{Type: "telemetry", OccurredAt: now.Add(tt.ahead)}}
		if err := p.ValidateMeasurements(m, now); (err == nil) != tt.ok {
			t.Errorf("skew %s, measured %s ahead: got %v, want ok=%v", tt.skew, tt.ahead, err, tt.ok)
		}
		if err := p.ValidateVehicleEvents(e, now); (err == nil) != tt.ok {
			t.Errorf("skew %s, vehicle event %s ahead: got %v, want ok=%v", tt.skew, tt.ahead, err, tt.ok)
		}
	}
}

func TestErrorFromCode_KeepsTheSentinelAcrossTheBus(t *testing.T) {
	for _, sentinel := range []error{ErrDeviceNotFound, ErrVersionConflict, ErrForbidden, ErrUnauthenticated, ErrDeviceDecommissioned} {
		err := ErrorFromCode(Code(sentinel), "text")
		if !errors.Is(err, sentinel) {
			t.Errorf("%v did not survive as a code", sentinel)
		}
	}
	if Code(errors.New("boom")) != CodeInternal {
		t.Error("an unknown error is not internal")
	}
	if got := Code(fmt.Errorf("append: %w", context.DeadlineExceeded)); got != CodeUnavailable {
		t.Errorf("work cut by its deadline: %s, want %s (the caller retries)", got, CodeUnavailable)
	}
	if !errors.Is(ErrorFromCode(Code(context.DeadlineExceeded), "timed out"), ErrUnavailable) {
		t.Error("a deadline did not cross the bus as unavailable")
	}
}

func TestDevice_DecisionsFollowItsHistory(t *testing.T) {
	reg, err := RegisterVehicle("van", VehicleProfile{Name: "Van"}, []byte("h"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := DeviceFromHistory([]Event{reg}, 0)
	if err != nil {
		t.Fatal(err)
	}
	stale := int64(3)
	if _, err := d.UpdateVehicle(VehicleProfile{Name: "x"}, &stale, time.Now()); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("stale version: %v", err)
	}
	if _, err := d.UpdateStation(StationProfile{Name: "x"}, nil, time.Now()); !errors.Is(err, ErrDeviceNotFound) {
		t.Fatalf("a vehicle updated as a station: %v", err)
	}
	dec, err := d.Decommission(KindVehicle, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, _ = DeviceFromHistory([]Event{reg, dec}, 1)
	if err := d.AcceptsTelemetry(KindVehicle); !errors.Is(err, ErrDeviceDecommissioned) {
		t.Fatalf("decommissioned vehicle accepts telemetry: %v", err)
	}
	if !d.TokenMatches([]byte("h")) || d.TokenMatches([]byte("x")) || d.TokenMatches(nil) {
		t.Fatal("token comparison is wrong")
	}
}

func TestJSONDepth(t *testing.T) {
	for _, tt := range []struct {
		doc  string
		want int
	}{
		{`{}`, 1},
		{`{"a": [1, {"b": "[[[[{"}]}`, 3},
		{`{"a": "x\\\"{{"}`, 1},
		{`{"a": [[[]]], "b": {}}`, 4},
	} {
		if got := jsonDepth([]byte(tt.doc)); got != tt.want {
			t.Errorf("jsonDepth(%s) = %d, want %d", tt.doc, got, tt.want)
		}
	}
}
