package importer

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// decoded is what a decoder made of a file: its rows and its rejections,
// by line, or the error that stopped it.
type decoded struct {
	rows     []Row
	rejected map[int64]string
	err      error
}

func decodeAll(t testing.TB, format Format, input string) decoded {
	t.Helper()
	dec, err := NewDecoder(format, strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	out := decoded{rejected: map[int64]string{}}
	// Every call reads at least a byte or ends: more calls than bytes is a
	// decoder that does not advance.
	for range len(input) + 2 {
		row, err := dec.Next()
		var rowErr *RowError
		switch {
		case errors.Is(err, io.EOF):
			return out
		case errors.As(err, &rowErr):
			out.rejected[rowErr.Line] = rowErr.Reason
		case err != nil:
			out.err = err
			return out
		default:
			out.rows = append(out.rows, row)
		}
	}
	t.Fatalf("the decoder does not advance over %q", input)
	return out
}

func TestDecoders_RowsAndRejectionsByLine(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		format   Format
		input    string
		rows     []Row
		rejected map[int64]string // line -> a part of the reason
		err      string
	}{
		{name: "CSV with every column in another order, a quoted field and a blank line", format: CSV,
			input: "type,measured_at,value,station,id\npm25,2025-03-01T12:00:00Z,1.5,st-1,m1\n\n\"pm10\",2025-03-01T13:00:00+01:00,-2,st-2,\n",
			rows: []Row{
				{Line: 2, Station: "st-1", Measurement: measurement("m1", "pm25", 1.5, at)},
				{Line: 4, Station: "st-2", Measurement: measurement("", "pm10", -2, at)},
			}},
		{name: "CSV without id column, bad rows named by line", format: CSV,
			input:    "station,type,value,measured_at\nst,pm25,x,2025-03-01T12:00:00Z\nst,pm25,NaN,2025-03-01T12:00:00Z\nst,pm25,1,yesterday\nst,pm25,1\n,pm25,1,2025-03-01T12:00:00Z\nst,pm25,3,2025-03-01T12:00:00Z\n",
			rows:     []Row{{Line: 7, Station: "st", Measurement: measurement("", "pm25", 3, at)}},
			rejected: map[int64]string{2: "value", 3: "value", 4: "measured_at", 5: "has 3 fields", 6: "station"}},
		{name: "CSV record spanning lines is named by its first", format: CSV,
			input:    "station,type,value,measured_at\n\"st\nx\",pm25,1,2025-03-01T12:00:00Z\nst,pm25,\"1\"x,2025-03-01T12:00:00Z\nst,pm25,2,2025-03-01T12:00:00Z\n",
			rows:     []Row{{Line: 2, Station: "st\nx", Measurement: measurement("", "pm25", 1, at)}, {Line: 5, Station: "st", Measurement: measurement("", "pm25", 2, at)}},
			rejected: map[int64]string{4: "not CSV"}},
		{name: "CSV header with an unknown column", format: CSV, input: "station,type,value,measured_at,unit\n", err: `column "unit"`},
		{name: "CSV header without value", format: CSV, input: "station,type,measured_at\n", err: `lacks column "value"`},
		{name: "empty CSV", format: CSV, input: ""},
		{name: "NDJSON rows, blank lines, bad rows", format: NDJSON,
			input: "{\"station\":\"st\",\"id\":\"a\",\"type\":\"pm25\",\"value\":0,\"measured_at\":\"2025-03-01T12:00:00Z\"}\n\n" +
				"{\"station\":\"st\",\"type\":\"pm25\",\"measured_at\":\"2025-03-01T12:00:00Z\"}\n" +
				"{\"station\":\"st\",\"type\":\"pm25\",\"value\":1,\"measured_at\":\"2025-03-01T12:00:00Z\",\"unit\":\"x\"}\n" +
				"[1,2]\n{\"station\":\"st\",\"type\":\"pm25\",\"value\":1,\"measured_at\":\"2025-03-01T12:00:00Z\"} {}\n" +
				"{\"type\":\"pm25\",\"value\":1,\"measured_at\":\"2025-03-01T12:00:00Z\"}\n" +
				"  {\"station\":\"st\",\"type\":\"pm25\",\"value\":4.25,\"measured_at\":\"2025-03-01T12:00:00Z\"}",
			rows: []Row{
				{Line: 1, Station: "st", Measurement: measurement("a", "pm25", 0, at)},
				{Line: 8, Station: "st", Measurement: measurement("", "pm25", 4.25, at)},
			},
			rejected: map[int64]string{3: "value: is required", 4: "unit", 5: "not a JSON object", 6: "more than one", 7: "station"}},
		{name: "NDJSON line over the limit is rejected, the next read", format: NDJSON,
			input:    "{\"station\":\"" + strings.Repeat("s", MaxLineBytes) + "\"}\n{\"station\":\"st\",\"type\":\"pm25\",\"value\":1,\"measured_at\":\"2025-03-01T12:00:00Z\"}\n",
			rows:     []Row{{Line: 2, Station: "st", Measurement: measurement("", "pm25", 1, at)}},
			rejected: map[int64]string{1: "longer than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := decodeAll(t, tt.format, tt.input)
			if tt.err != "" {
				if got.err == nil || !strings.Contains(got.err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", got.err, tt.err)
				}
				return
			}
			if got.err != nil {
				t.Fatal(got.err)
			}
			if len(got.rows) != len(tt.rows) {
				t.Fatalf("rows %+v, want %+v", got.rows, tt.rows)
			}
			for i, want := range tt.rows {
				r := got.rows[i]
				if r.Line != want.Line || r.Station != want.Station || r.ID != want.ID || r.Type != want.Type || r.Value != want.Value || !r.MeasuredAt.Equal(want.MeasuredAt) {
					t.Errorf("row %d: %+v, want %+v", i, r, want)
				}
			}
			if len(got.rejected) != len(tt.rejected) {
				t.Errorf("rejected %v, want lines %v", got.rejected, tt.rejected)
			}
			for line, part := range tt.rejected {
				if !strings.Contains(got.rejected[line], part) {
					t.Errorf("line %d rejected with %q, want it to say %q", line, got.rejected[line], part)
				}
			}
		})
	}
}

func measurement(id, typ string, v float64, at time.Time) domain.Measurement {
	return domain.Measurement{ID: id, Type: typ, Value: v, MeasuredAt: at}
}

// FuzzCSVDecoder feeds arbitrary files to the CSV decoder: it never panics,
// always advances, names rows by strictly increasing lines, and gives only
// rows with a station, a finite value and a time.
func FuzzCSVDecoder(f *testing.F) {
	f.Add("station,id,type,value,measured_at\nst,m1,pm25,1.5,2025-03-01T12:00:00Z\n")
	f.Add("station,type,value,measured_at\n\"st\n\",pm25,1,2025-03-01T12:00:00Z\nst,\"x\"y,1,z\n,,,\n")
	f.Add("\ufeffmeasured_at,value,type,station\n2025-03-01T12:00:00+02:00,1e308,t,s\n")
	f.Add("station,type,value,measured_at\nst,pm25,\"1,2025\n")
	f.Fuzz(func(t *testing.T, input string) { checkDecoded(t, decodeAll(t, CSV, input)) })
}

// FuzzNDJSONDecoder is FuzzCSVDecoder for NDJSON.
func FuzzNDJSONDecoder(f *testing.F) {
	f.Add("{\"station\":\"st\",\"type\":\"pm25\",\"value\":1,\"measured_at\":\"2025-03-01T12:00:00Z\"}\n")
	f.Add("{\"station\":\"st\",\"value\":null}\n\n[]\n{\"station\":1}\r\n{")
	f.Add("{\"station\":\"s\",\"id\":\"\",\"type\":\"\",\"value\":1e400,\"measured_at\":\"\"}")
	f.Fuzz(func(t *testing.T, input string) { checkDecoded(t, decodeAll(t, NDJSON, input)) })
}

func checkDecoded(t *testing.T, d decoded) {
	t.Helper()
	last := int64(0)
	for _, r := range d.rows {
		if r.Line <= last {
			t.Fatalf("row at line %d after line %d", r.Line, last)
		}
		last = r.Line
		if r.Station == "" || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.MeasuredAt.IsZero() {
			t.Fatalf("row %+v is not whole", r)
		}
	}
	for line := range d.rejected {
		if line <= 0 {
			t.Fatalf("rejection at line %d", line)
		}
	}
}

func TestFormats_ByNameExtensionAndContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, contentType string
		want                    Format
	}{
		{"csv", "history.CSV", "text/csv; charset=utf-8", CSV},
		{"jsonl", "dump.jsonl", "application/x-ndjson", NDJSON},
		{"ndjson", "dump.ndjson", "application/jsonl", NDJSON},
		{"Parquet", "year=2026/month=01/day=02/00000001.parquet", "application/vnd.apache.parquet", Parquet},
		{"parquet", "x.parquet", "application/x-parquet", Parquet},
	}
	for _, tt := range tests {
		if f, err := ParseFormat(tt.name); err != nil || f != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", tt.name, f, err, tt.want)
		}
		if f, err := FormatOfFile(tt.file); err != nil || f != tt.want {
			t.Errorf("FormatOfFile(%q) = %q, %v; want %q", tt.file, f, err, tt.want)
		}
		if f, ok := FormatOfContentType(tt.contentType); !ok || f != tt.want {
			t.Errorf("FormatOfContentType(%q) = %q, %v; want %q", tt.contentType, f, ok, tt.want)
		}
	}
	if _, err := FormatOfFile("history.txt"); err == nil || !strings.Contains(err.Error(), ".parquet") {
		t.Errorf("FormatOfFile(history.txt) = %v, want an error naming the extensions", err)
	}
	if _, ok := FormatOfContentType("application/octet-stream"); ok {
		t.Error("application/octet-stream taken as a format")
	}
}
