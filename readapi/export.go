package readapi

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// exportColumns names the columns of each resolution's rows, in order.
var exportColumns = map[Resolution][]string{
	Raw:    {"measured_at", "value"},
	Hourly: {"hour", "count", "min", "max", "avg", "sum"},
	Daily:  {"day", "count", "min", "max", "avg", "sum"},
}

// export streams a station's raw points or aggregates as CSV or NDJSON,
// row by row as PostgreSQL sends them: memory stays flat whatever the range.
func (a *api) export(w http.ResponseWriter, r *http.Request) {
	d, err := a.device(r.Context(), Station, mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	q := query{vals: r.URL.Query()}
	typ := q.name("type")
	format := q.get("format")
	if format == "" {
		format = "csv"
	}
	resolution := Resolution(q.get("resolution"))
	if resolution == "" {
		resolution = Raw
	}
	eq := ExportQuery{StationID: d.ID, Type: typ, Resolution: resolution}
	switch resolution {
	case Raw:
		eq.To = q.time("to", a.clock())
		eq.From = q.time("from", eq.To.Add(-24*time.Hour))
	case Hourly:
		eq.To = q.time("to", a.clock())
		eq.From = q.time("from", eq.To.Add(-30*24*time.Hour))
	case Daily:
		today := dateOf(a.clock().In(d.zone()))
		eq.To = q.date("to", today)
		eq.From = q.date("from", eq.To.AddDate(0, 0, -364))
	default:
		q.fail("resolution must be raw, hourly or daily")
	}
	if format != "csv" && format != "ndjson" {
		q.fail("format must be csv or ndjson")
	}
	if q.err != nil {
		writeError(w, q.err)
		return
	}

	columns := exportColumns[resolution]
	out := bufio.NewWriterSize(w, 64<<10)
	flusher, _ := w.(http.Flusher)
	var line []byte
	n := 0
	begun, clientGone := false, false
	begin := func() {
		begun = true
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/x-ndjson")
		}
		w.Header().Set("Content-Disposition", `attachment; filename="`+d.ID+"-"+typ+"-"+string(resolution)+"."+format+`"`)
		if resolution == Raw {
			a.markRetention(w, r, eq.From, false)
		}
		w.WriteHeader(http.StatusOK)
		if format == "csv" {
			out.WriteString(strings.Join(columns, ",") + "\n")
		}
	}
	write := func(row ExportRow) error {
		line = appendRecord(line[:0], format, columns, row)
		if _, err := out.Write(line); err != nil {
			clientGone = true
			return err
		}
		if n++; n%10000 == 0 && flusher != nil {
			_ = out.Flush()
			flusher.Flush()
		}
		return nil
	}
	err = a.store.Export(r.Context(), eq, begin, write)
	switch {
	case err != nil && !begun:
		writeError(w, err)
		return
	case err != nil && !clientGone:
		// The headers are sent: a cut stream is all the client can be told.
		a.logger.WarnContext(r.Context(), "export cut short", "station", d.ID, "rows", n, "err", err)
	case !begun:
		begin()
	}
	_ = out.Flush()
}

// appendRecord formats one exported row: each column's field of row, as
// CSV or as an NDJSON object.
func appendRecord(buf []byte, format string, columns []string, row ExportRow) []byte {
	ndjson := format == "ndjson"
	if ndjson {
		buf = append(buf, '{')
	}
	for i, col := range columns {
		if i > 0 {
			buf = append(buf, ',')
		}
		if ndjson {
			buf = strconv.AppendQuote(buf, col)
			buf = append(buf, ':')
		}
		switch col {
		case "measured_at", "hour":
			if ndjson {
				buf = append(buf, '"')
			}
			buf = row.At.UTC().AppendFormat(buf, time.RFC3339Nano)
			if ndjson {
				buf = append(buf, '"')
			}
		case "day":
			buf = strconv.AppendQuote(buf, row.Day) // a date: no CSV quoting needed beyond this
		case "count":
			buf = strconv.AppendInt(buf, row.Count, 10)
		case "value":
			buf = strconv.AppendFloat(buf, row.Value, 'g', -1, 64)
		case "min":
			buf = strconv.AppendFloat(buf, row.Min, 'g', -1, 64)
		case "max":
			buf = strconv.AppendFloat(buf, row.Max, 'g', -1, 64)
		case "avg":
			buf = strconv.AppendFloat(buf, row.Avg, 'g', -1, 64)
		case "sum":
			buf = strconv.AppendFloat(buf, row.Sum, 'g', -1, 64)
		}
	}
	if ndjson {
		buf = append(buf, '}')
	}
	return append(buf, '\n')
}
