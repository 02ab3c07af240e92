package readapi

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// jsonOf is what httpx.WriteJSON writes for v.
func jsonOf(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAppendHot_WritesExactlyWhatEncodingJSONWrites: the hand encoder of
// the hot views is byte for byte encoding/json, floats in both notations,
// times in any zone and precision, strings needing escapes and empty or
// nil lists included.
func TestAppendHot_WritesExactlyWhatEncodingJSONWrites(t *testing.T) {
	t.Parallel()
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 29, 1, 59, 59, 123456789, warsaw)
	floats := []float64{0, -0.0, 1, -1, 12.5, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21, 123456789012345678901234.0,
		math.MaxFloat64, math.SmallestNonzeroFloat64, -3.25e-9, 100, 1.0 / 3}
	var points []Point
	var days []Day
	for i, f := range floats {
		points = append(points, Point{MeasuredAt: at.Add(time.Duration(i) * time.Minute), Value: f})
		days = append(days, Day{Day: "2026-03-29", Count: int64(i), Min: f, Max: -f, Avg: f / 7, Sum: f + 1})
	}
	points = append(points, Point{MeasuredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Value: 2},
		Point{MeasuredAt: time.Date(2026, 1, 1, 0, 0, 0, 1000, time.FixedZone("", -5*3600-1800)), Value: 3})
	cases := []struct {
		name string
		v    any
	}{
		{"points", pointList{Points: points}},
		{"points truncated", pointList{Points: points[:2], Truncated: true}},
		{"no points", pointList{Points: []Point{}}},
		{"nil points", pointList{}},
		{"days", dayList{Days: days}},
		{"nil days", dayList{}},
		{"measurements raw", measurementsRaw{Points: points, RangeDays: 7, Resolution: "raw", Station: "st-1", Truncated: true, Type: "pm25"}},
		{"measurements raw, escapes", measurementsRaw{Points: nil, RangeDays: 1, Resolution: "raw", Station: "<&>\"\\ é \u2028", Type: "a\tb"}},
		{"measurements daily", measurementsDaily{Days: days, RangeDays: 365, Resolution: "daily", Station: "st-1", Type: "pm2.5"}},
		{"measurements daily, escapes", measurementsDaily{Days: []Day{{Day: "x\x00y"}}, RangeDays: 8, Resolution: "daily", Station: "ü", Type: "\xff"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := appendHot(nil, c.v)
			if err != nil {
				t.Fatal(err)
			}
			if want := jsonOf(t, c.v); !bytes.Equal(got, want) {
				t.Errorf("hand encoder:\n%s\nencoding/json:\n%s", got, want)
			}
		})
	}
	if _, err := appendHot(nil, pointList{Points: []Point{{Value: math.NaN()}}}); err == nil {
		t.Error("NaN: the hand encoder wrote it; it must hand it to encoding/json")
	}
}

// FuzzAppendHot compares the hand encoder with encoding/json on any float,
// time and name.
func FuzzAppendHot(f *testing.F) {
	f.Add(12.5, int64(1780000000), int64(0), "pm25", int64(3))
	f.Add(1e-7, int64(-62135596800), int64(999999999), "<a>", int64(-1))
	f.Add(1e21, int64(253402300799), int64(1), "\u2028", int64(1<<40))
	f.Fuzz(func(t *testing.T, v float64, sec, nsec int64, name string, count int64) {
		at := time.Unix(sec, nsec%1_000_000_000)
		for _, x := range []any{
			pointList{Points: []Point{{MeasuredAt: at, Value: v}}},
			dayList{Days: []Day{{Day: name, Count: count, Min: v, Max: v, Avg: v, Sum: v}}},
			measurementsRaw{Points: []Point{{MeasuredAt: at.UTC(), Value: v}}, Station: name, Type: name},
			measurementsDaily{Station: name, Type: name},
		} {
			got, err := appendHot(nil, x)
			var want bytes.Buffer
			jerr := json.NewEncoder(&want).Encode(x)
			if err != nil {
				continue // handed to encoding/json
			}
			if jerr != nil {
				t.Fatalf("hand encoder wrote %s where encoding/json fails: %v", got, jerr)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("hand encoder:\n%s\nencoding/json:\n%s", got, want.Bytes())
			}
		}
	})
}

// FuzzParseEventID: any Last-Event-ID is refused or read as a position
// whose own id reads back as the same position.
func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"1/1", "0/0", "12345/678", "", "/", "1/", "-1/2", "1/2/3", "9223372036854775808/1", " 1/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseEventID(s)
		if err != nil {
			return
		}
		if q, err := parseEventID(p.String()); err != nil || q != p {
			t.Fatalf("%q read as %v, whose id reads as %v (%v)", s, p, q, err)
		}
	})
}

// BenchmarkEncodeDayOfRawPoints: one day of 1-minute points (1,440), by
// hand and with encoding/json.
func BenchmarkEncodeDayOfRawPoints(b *testing.B) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	v := pointList{Points: make([]Point, 1440)}
	for i := range v.Points {
		v.Points[i] = Point{MeasuredAt: start.Add(time.Duration(i) * time.Minute), Value: 10 + float64(i%97)/4}
	}
	b.Run("hand", func(b *testing.B) {
		buf := make([]byte, 0, 1<<17)
		for b.Loop() {
			_, _ = appendHot(buf[:0], v)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			_ = json.NewEncoder(&buf).Encode(v)
		}
	})
}

// FuzzCacheRequestHeaders: any Accept-Encoding and If-None-Match is read
// without failing; a list that names the ETag (either form) matches it, and
// gzip named without q=0 is taken.
func FuzzCacheRequestHeaders(f *testing.F) {
	for _, s := range []string{"gzip", "br;q=1, gzip;q=0.5", "gzip;q=0", "*", "identity", `W/"abc", "def"`, `"x-gz"`, ";;,,=q", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		_ = acceptsGzip(header)
		_ = etagMatches(header, `"abc"`)
		if !etagMatches(header+`, "abc"`, `"abc"`) || !etagMatches(`W/"abc-gz", `+header, `"abc"`) {
			t.Fatalf("a list naming the ETag after or before %q does not match", header)
		}
		if !acceptsGzip("gzip, " + header) {
			t.Fatalf("gzip first, then %q: not taken", header)
		}
	})
}
