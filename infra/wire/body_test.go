package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/wire"
)

// goInternals are words of the Go side a message for people must not hold.
var goInternals = []string{"Go ", "go struct", "float64", "int64", "time.Time", "2006", "15:04", "json:", "unmarshal", "reflect", "wire.", "domain."}

// TestDecode_SaysWhichValueIsWrongAndWhatFormItMustHave decodes bodies of
// the shapes the APIs take (a measurement batch, a vehicle event batch, a
// station, a vehicle with its embedded profile): each refusal names the
// value by its JSON path (and the batch item, as validation errors do) and
// the form to send, never a Go type or time layout.
func TestDecode_SaysWhichValueIsWrongAndWhatFormItMustHave(t *testing.T) {
	type measurements struct {
		Measurements []domain.Measurement `json:"measurements"`
	}
	type events struct {
		Events []domain.VehicleEvent `json:"events"`
	}
	type station struct {
		ID       string           `json:"id"`
		Location *domain.Location `json:"location"`
	}
	type vehicle struct {
		VID string `json:"vid"`
		domain.VehicleProfile
	}
	const good = `{"type": "pm25", "value": 1, "measured_at": "2026-06-01T11:00:00Z"}`
	tests := []struct {
		name  string
		into  func() any
		body  string
		msg   string // "" : decodes
		field string
		index int
	}{
		{"a number sent as a string", func() any { return &measurements{} },
			`{"measurements": [` + good + `, {"type": "pm25", "value": "12", "measured_at": "2026-06-01T11:00:00Z"}]}`,
			`measurements[1].value must be a number, not the string "12"`, "value", 1},
		{"a time that is not RFC 3339", func() any { return &measurements{} },
			`{"measurements": [{"type": "pm25", "value": 1, "measured_at": "yesterday"}]}`,
			`measurements[0].measured_at must be an RFC 3339 time such as "2026-11-23T10:00:00Z", not the string "yesterday"`, "measured_at", 0},
		{"a time sent as a number", func() any { return &measurements{} },
			`{"measurements": [` + good + `, ` + good + `, {"type": "pm25", "value": 1, "measured_at": 1700000000}]}`,
			`measurements[2].measured_at must be an RFC 3339 time such as "2026-11-23T10:00:00Z", not the number 1700000000`, "measured_at", 2},
		{"a number no float holds", func() any { return &measurements{} },
			`{"measurements": [{"type": "pm25", "value": 1e400, "measured_at": "2026-06-01T11:00:00Z"}]}`,
			`measurements[0].value must be a number from -1.8e+308 to 1.8e+308, not 1e400`, "value", 0},
		{"an unknown field in an item", func() any { return &measurements{} },
			`{"measurements": [{"type": "pm25", "value": 1, "unit": "ug"}]}`,
			`measurements[0] has an unknown field "unit"; its fields are id, type, value, measured_at`, "", 0},
		{"an unknown field in the body", func() any { return &measurements{} },
			`{"measurements": [], "extra": 1}`,
			`the body has an unknown field "extra"; its fields are measurements`, "", -1},
		{"a list for the body", func() any { return &measurements{} },
			`[1, 2]`,
			`the body must be an object {...} with the fields measurements, not a list`, "", -1},
		{"an object for the batch", func() any { return &measurements{} },
			`{"measurements": {"type": "pm25"}}`,
			`measurements must be a list [...], not an object`, "measurements", -1},
		{"an item that is not an object", func() any { return &measurements{} },
			`{"measurements": [` + good + `, 7]}`,
			`measurements[1] must be an object {...} with the fields id, type, value, measured_at, not the number 7`, "", 1},
		{"a reading that is not a number", func() any { return &events{} },
			`{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "readings": {"speed_kmh": 50, "battery_pct": "full"}}]}`,
			`events[0].readings.battery_pct must be a number, not the string "full"`, "readings.battery_pct", 0},
		{"a location that is not an object", func() any { return &events{} },
			`{"events": [{"type": "telemetry", "occurred_at": "2026-06-01T11:00:00Z", "location": [52, 21]}]}`,
			`events[0].location must be an object {...} with the fields lat, lon, not a list`, "location", 0},
		{"a latitude sent as a string", func() any { return &station{} },
			`{"id": "krk-1", "location": {"lat": "50.06", "lon": 19.94}}`,
			`location.lat must be a number, not the string "50.06"`, "location.lat", -1},
		{"an id sent as a number", func() any { return &station{} },
			`{"id": 7}`,
			`id must be a string, not the number 7`, "id", -1},
		{"an unknown field next to an embedded profile", func() any { return &vehicle{} },
			`{"vid": "van-1", "name": "Van", "colour": "red"}`,
			`the body has an unknown field "colour"; its fields are vid, name, vin, plate, model, timezone`, "", -1},
		{"true for a string", func() any { return &vehicle{} },
			`{"vid": "van-1", "name": true}`,
			`name must be a string, not true`, "name", -1},
		{"NaN", func() any { return &measurements{} },
			`{"measurements": [{"type": "pm25", "value": NaN}]}`,
			`the body is not valid JSON: invalid character 'N' looking for beginning of value (at byte 45)`, "", -1},
		{"nesting beyond the decoder's depth", func() any { return &events{} },
			`{"events": [{"data": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}]}`,
			`the body nests arrays or objects too deeply`, "", -1},
		{"a key in other case decodes, as encoding/json does", func() any { return &measurements{} },
			`{"Measurements": [` + good + `]}`, "", "", -1},
		{"null leaves a value out", func() any { return &station{} },
			`{"id": "krk-1", "location": null}`, "", "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wire.Decode(strings.NewReader(tt.body), tt.into())
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var be *wire.BodyError
			if !errors.As(err, &be) {
				t.Fatalf("got %T %v, want a *wire.BodyError", err, err)
			}
			if be.Message != tt.msg || be.Field != tt.field || be.Index != tt.index {
				t.Errorf("got %q field %q index %d\nwant %q field %q index %d", be.Message, be.Field, be.Index, tt.msg, tt.field, tt.index)
			}
			for _, w := range goInternals {
				if strings.Contains(be.Message, w) {
					t.Errorf("%q names Go's %q", be.Message, w)
				}
			}
		})
	}
}
