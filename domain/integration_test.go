package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestIntegration(t *testing.T) {
	at := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	pos := Position{Commit: 812, Prepare: 3}
	cases := []struct {
		name, stream, typ, data string
		wantOK                  bool
		wantType, wantDevice    string
		wantData                string // substring the published data holds
		wantAbsent              string // substring it must not hold
	}{
		{"a batch is published as stored", "telemetry-st-1", TypeMeasurementsRecorded,
			`{"station_id":"st-1","measurements":[{"id":"m1","type":"pm25","value":3,"measured_at":"2026-11-29T06:59:00Z"}]}`,
			true, FeedMeasurementsRecorded, "st-1", `"measurements":[{"id":"m1"`, ""},
		{"a first-format item becomes a batch of one", "telemetry-st-1", TypeMeasurementRecorded,
			`{"station_id":"st-1","id":"m1","type":"pm25","value":3,"measured_at":"2026-11-29T06:59:00Z"}`,
			true, FeedMeasurementsRecorded, "st-1", `"measurements":[{"id":"m1"`, ""},
		{"a registration loses its token hash", "device-veh-1", TypeVehicleRegistered,
			`{"vid":"veh-1","name":"Van","token_hash":"c2VjcmV0","registered_at":"2026-11-29T06:00:00Z"}`,
			true, FeedVehicleRegistered, "veh-1", `"name":"Van"`, "token_hash"},
		{"an alert", "alerts-st-1", TypeAlertRaised, `{"device_id":"st-1","rule":"r","type":"pm25"}`,
			true, FeedAlertRaised, "st-1", `"rule":"r"`, ""},
		{"a token rotation is not published", "device-st-1", TypeDeviceTokenRotated, `{"device_id":"st-1","token_hash":"x"}`,
			false, "", "", "", ""},
		{"a read key is not published", "readkeys", TypeReadKeyCreated, `{}`, false, "", "", "", ""},
		{"an alert rule is not published", "alerts-st-1", TypeAlertRuleSet, `{}`, false, "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, ok, err := Integration(RecordedEvent{ID: "e", StreamID: c.stream, Type: c.typ, Data: []byte(c.data), Position: pos, RecordedAt: at})
			if err != nil || ok != c.wantOK {
				t.Fatalf("Integration: ok %v err %v, want ok %v", ok, err, c.wantOK)
			}
			if !ok {
				return
			}
			if e.Type != c.wantType || e.DeviceID != c.wantDevice || e.Position != "812-3" || e.SchemaVersion != IntegrationSchemaVersion || !e.RecordedAt.Equal(at) {
				t.Fatalf("event %+v", e)
			}
			if !json.Valid(e.Data) || !strings.Contains(string(e.Data), c.wantData) || (c.wantAbsent != "" && strings.Contains(string(e.Data), c.wantAbsent)) {
				t.Fatalf("data %s", e.Data)
			}
			if !IsFeedType(e.Type) {
				t.Fatalf("%s is not listed as a feed type", e.Type)
			}
		})
	}
}

func TestParseFeedPosition(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Position
		ok   bool
	}{
		{"0-0", Start, true},
		{"812-3", Position{812, 3}, true},
		{"18446744073709551615-18446744073709551615", Position{1<<64 - 1, 1<<64 - 1}, true},
		{"18446744073709551616-0", Position{}, false},
		{"", Position{}, false},
		{"812", Position{}, false},
		{"812/3", Position{}, false},
		{"0812-3", Position{}, false},
		{"+812-3", Position{}, false},
		{"812--3", Position{}, false},
		{"812-3-4", Position{}, false},
		{" 812-3", Position{}, false},
	} {
		got, err := ParseFeedPosition(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseFeedPosition(%q) = %v, %v; want %v ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

// FuzzParseFeedPosition: whatever a client sends as ?after= is either
// refused or read back to exactly the text it was.
func FuzzParseFeedPosition(f *testing.F) {
	for _, s := range []string{"0-0", "812-3", "18446744073709551615-1", "01-2", "1-", "-1", "a-b", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseFeedPosition(s)
		if err != nil {
			if p != (Position{}) {
				t.Fatalf("refused %q but returned %v", s, p)
			}
			return
		}
		if back := FeedPosition(p); back != s {
			t.Fatalf("ParseFeedPosition(%q) = %v, written back as %q", s, p, back)
		}
	})
}

// TestIntegrationEventAppendJSON: the hand-written encoding is the one
// encoding/json writes, for plain and awkward text alike.
func TestIntegrationEventAppendJSON(t *testing.T) {
	at := time.Date(2026, 11, 29, 7, 0, 0, 123456789, time.UTC)
	for _, e := range []IntegrationEvent{
		{Position: "1-2", Type: FeedMeasurementsRecorded, DeviceID: "st-1", RecordedAt: at, SchemaVersion: 1, Data: json.RawMessage(`{"station_id":"st-1","measurements":[]}`)},
		{Position: "0-0", Type: "x", DeviceID: "a\"b\\c<d>&\u00e9\n", RecordedAt: at.Truncate(time.Second), SchemaVersion: 1, Data: json.RawMessage(`{"k":[1,2,{"z":null}]}`)},
		{Position: "9-9", Type: FeedAlertRaised, DeviceID: "d", RecordedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), SchemaVersion: 1},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
		}
	}
}
