package readapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// The hot views (raw points and daily aggregates) are encoded here by
// hand, byte for byte what encoding/json writes for their types (a test
// compares them): a profile of the read API found about half its CPU in
// encoding/json's reflection on these. Anything the hand encoder does not
// know how to write exactly (a non-finite float, a year outside 0-9999, a
// string needing escapes) makes it hand the whole value to encoding/json.

// errSlowPath: the value needs encoding/json.
var errSlowPath = errors.New("needs encoding/json")

// writeHot writes v (pointList, dayList, measurementsRaw or
// measurementsDaily) as httpx.WriteJSON would.
func writeHot(w http.ResponseWriter, status int, v any) {
	b, err := appendHot(make([]byte, 0, 4096), v)
	if err != nil {
		httpx.WriteJSON(w, status, v)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// appendHot appends v's JSON and the newline json.Encoder ends it with.
func appendHot(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case pointList:
		b = append(b, `{"points":`...)
		if b, err = appendPoints(b, v.Points); err != nil {
			return nil, err
		}
		if v.Truncated {
			b = append(b, `,"truncated":true`...)
		}
		b = append(b, '}')
	case dayList:
		b = append(b, `{"days":`...)
		if b, err = appendDays(b, v.Days); err != nil {
			return nil, err
		}
		b = append(b, '}')
	case measurementsRaw:
		b = append(b, `{"points":`...)
		if b, err = appendPoints(b, v.Points); err != nil {
			return nil, err
		}
		b = append(b, `,"range_days":`...)
		b = strconv.AppendInt(b, int64(v.RangeDays), 10)
		if b, err = appendStringField(b, `,"resolution":`, v.Resolution); err != nil {
			return nil, err
		}
		if b, err = appendStringField(b, `,"station":`, v.Station); err != nil {
			return nil, err
		}
		if v.Truncated {
			b = append(b, `,"truncated":true`...)
		}
		if b, err = appendStringField(b, `,"type":`, v.Type); err != nil {
			return nil, err
		}
		b = append(b, '}')
	case measurementsDaily:
		b = append(b, `{"days":`...)
		if b, err = appendDays(b, v.Days); err != nil {
			return nil, err
		}
		b = append(b, `,"range_days":`...)
		b = strconv.AppendInt(b, int64(v.RangeDays), 10)
		for _, f := range [...]struct{ name, value string }{{`,"resolution":`, v.Resolution}, {`,"station":`, v.Station}, {`,"type":`, v.Type}} {
			if b, err = appendStringField(b, f.name, f.value); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	default:
		return nil, errSlowPath
	}
	return append(b, '\n'), nil
}

func appendPoints(b []byte, ps []Point) ([]byte, error) {
	if ps == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	var err error
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"measured_at":`...)
		if b, err = appendTime(b, p.MeasuredAt); err != nil {
			return nil, err
		}
		b = append(b, `,"value":`...)
		if b, err = appendFloat(b, p.Value); err != nil {
			return nil, err
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendDays(b []byte, ds []Day) ([]byte, error) {
	if ds == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	var err error
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendStringField(b, `{"day":`, d.Day); err != nil {
			return nil, err
		}
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, d.Count, 10)
		for _, f := range [...]struct {
			name  string
			value float64
		}{{`,"min":`, d.Min}, {`,"max":`, d.Max}, {`,"avg":`, d.Avg}, {`,"sum":`, d.Sum}} {
			b = append(b, f.name...)
			if b, err = appendFloat(b, f.value); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendFloat and appendTime write as encoding/json does, or send the
// value the slow way (domain.AppendJSONFloat, domain.AppendJSONTime).
func appendFloat(b []byte, f float64) ([]byte, error) {
	if b, ok := domain.AppendJSONFloat(b, f); ok {
		return b, nil
	}
	return nil, errSlowPath
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if b, ok := domain.AppendJSONTime(b, t); ok {
		return b, nil
	}
	return nil, errSlowPath
}

// appendStringField writes name and a string value that needs no escape
// (encoding/json escapes ", \, control characters, <, >, & and more).
func appendStringField(b []byte, name, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				return nil, err
			}
			return append(append(b, name...), q...), nil
		}
	}
	b = append(b, name...)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}
