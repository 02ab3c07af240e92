package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/wire"
)

func TestDecode_TakesExactlyOneObjectOfKnownFields(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	tests := []struct {
		in      string
		wantErr string // "" : decoded
	}{
		{`{"name": "a"}`, ""},
		{` {"name": "a"}` + "\n", ""},
		{`{"name": "a", "extra": 1}`, `the body has an unknown field "extra"; its fields are name`},
		{`{"name": "a"} {}`, "the body holds more than one JSON value; send exactly one object"},
		{`{"name": "a"`, "the body is not valid JSON: it ends before its JSON value does"},
		{`{"name": 5}`, "name must be a string, not the number 5"},
		{``, "the body is empty; send a JSON object"},
	}
	for _, tt := range tests {
		var b body
		err := wire.Decode(strings.NewReader(tt.in), &b)
		switch {
		case tt.wantErr == "" && (err != nil || b.Name != "a"):
			t.Errorf("%q: %+v, %v", tt.in, b, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

// The HTTP API names the limit of a body that is too large: the limit's
// error comes back as it is, also when it strikes after the object.
func TestDecode_ABodyOverItsLimitReturnsTheLimitError(t *testing.T) {
	for _, in := range []string{`{"name": "` + strings.Repeat("a", 100) + `"}`, `{"name": "a"}` + strings.Repeat(" ", 100)} {
		body := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(in)), 20)
		var v struct {
			Name string `json:"name"`
		}
		var tooBig *http.MaxBytesError
		if err := wire.Decode(body, &v); !errors.As(err, &tooBig) || tooBig.Limit != 20 {
			t.Errorf("%.20q...: %v, want the limit's error", in, err)
		}
	}
}

func TestCallerFromToken_NamesTheOperatorADeviceOrNobody(t *testing.T) {
	const admin = "admin-secret"
	tests := []struct {
		token string
		want  commands.Caller
	}{
		{"", commands.Caller{}},
		{admin, commands.Caller{Admin: true}},
		{"st-1.secret", commands.Caller{DeviceID: "st-1", TokenHash: wire.HashSecret("secret")}},
		{"a.b.c", commands.Caller{DeviceID: "a.b", TokenHash: wire.HashSecret("c")}},
		{"no-dot", commands.Caller{}},
		{".secret", commands.Caller{}},
		{"admin-secre", commands.Caller{}},
	}
	for _, tt := range tests {
		got := wire.CallerFromToken(tt.token, admin)
		if got.Admin != tt.want.Admin || got.DeviceID != tt.want.DeviceID || !bytes.Equal(got.TokenHash, tt.want.TokenHash) {
			t.Errorf("%q: %+v, want %+v", tt.token, got, tt.want)
		}
	}
	if got := wire.CallerFromToken("", ""); got.Admin {
		t.Error("an empty token is the operator when no admin token is set")
	}
}

func TestNewToken_NamesItsDeviceAndIsKnownByItsHashOnly(t *testing.T) {
	token, hash := wire.NewToken("veh-7")
	again, _ := wire.NewToken("veh-7")
	if token == again {
		t.Fatal("two tokens for one device are the same")
	}
	caller := wire.CallerFromToken(token, "admin")
	if caller.DeviceID != "veh-7" || !bytes.Equal(caller.TokenHash, hash) {
		t.Fatalf("token %q authenticates as %+v, want veh-7 with the stored hash", token, caller)
	}
	if bytes.Contains(hash, []byte(strings.TrimPrefix(token, "veh-7."))) {
		t.Fatal("the stored hash holds the secret")
	}
}

func TestRefusal_SaysWhatACommandFailedOnAndNeverAnInternalError(t *testing.T) {
	idx := func(i int) *int { return &i }
	tests := []struct {
		err  error
		code string
		msg  string
		fld  string
		idx  *int
	}{
		{&domain.ValidationError{Index: 2, Field: "type", Reason: "must match"}, domain.CodeInvalid, "item 2: type: must match", "type", idx(2)},
		{&domain.ValidationError{Index: -1, Field: "location", Reason: "is required"}, domain.CodeInvalid, "location: is required", "location", nil},
		{fmt.Errorf("device %q: %w", "x", domain.ErrDeviceNotFound), domain.CodeNotFound, `device "x": device not found`, "", nil},
		{fmt.Errorf("append: %w", domain.ErrUnavailable), domain.CodeUnavailable, "the event store is unavailable or the request timed out; retry later", "", nil},
		{errors.New("pq: relation events does not exist"), domain.CodeInternal, "internal error", "", nil},
		{&wire.BodyError{Index: 3, Field: "value", Message: "measurements[3].value must be a number, not a string"}, wire.CodeMalformed,
			"measurements[3].value must be a number, not a string", "value", idx(3)},
		{fmt.Errorf("decode: %w", &wire.BodyError{Index: -1, Field: "location.lat", Message: "location.lat must be a number"}), wire.CodeMalformed,
			"location.lat must be a number", "location.lat", nil},
	}
	for _, tt := range tests {
		got := wire.Refusal(tt.err)
		if got.Code != tt.code || got.Message != tt.msg || got.Field != tt.fld || (got.Index == nil) != (tt.idx == nil) ||
			(got.Index != nil && *got.Index != *tt.idx) {
			t.Errorf("%v: %+v, want %s %q field %q index %v", tt.err, got, tt.code, tt.msg, tt.fld, tt.idx)
		}
	}
}

func TestTelemetry_MakesTheCommandThatRecordsItForItsDevice(t *testing.T) {
	caller := commands.Caller{DeviceID: "d"}
	m := wire.Measurements{{ID: "m1", Type: "pm25", Value: 1}}
	if cmd, ok := m.Command(caller, "st-1").(*commands.RecordMeasurements); !ok || cmd.StationID != "st-1" || cmd.Caller.DeviceID != "d" || len(cmd.Measurements) != 1 {
		t.Fatalf("measurements made %#v", m.Command(caller, "st-1"))
	}
	e := wire.VehicleEvents{{EID: "e1", Type: "telemetry"}}
	if cmd, ok := e.Command(caller, "veh-1").(*commands.RecordVehicleEvents); !ok || cmd.VID != "veh-1" || cmd.Caller.DeviceID != "d" || len(cmd.Events) != 1 {
		t.Fatalf("vehicle events made %#v", e.Command(caller, "veh-1"))
	}
}
