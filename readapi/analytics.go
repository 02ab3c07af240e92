package readapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

const (
	hourlySQL = `
SELECT hour, count, sum, min, max FROM rm_hourly
WHERE device_id = $1 AND name = $2 AND hour >= $3 AND hour < $4
ORDER BY hour`

	historySQL = `
SELECT commit_pos, prepare_pos, event_type, at, version, details::text FROM rm_device_history
WHERE device_id = $1 AND (commit_pos, prepare_pos) > ($2, $3)
ORDER BY commit_pos, prepare_pos
LIMIT $4`
)

// asOfDailySQL recomputes daily aggregates as they stood at recorded time
// $5: measurements recorded by then, each with the value it had then
// (revisions keep every value a correction or retraction replaced).
const asOfDailySQL = `
WITH ids AS (
    SELECT measurement_id, measured_at, value AS live FROM rm_measurements
    WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4
      AND coalesce(recorded_at, '-infinity') <= $5
    UNION ALL
    SELECT measurement_id, measured_at, NULL FROM rm_measurement_revisions
    WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4 AND retracted
      AND coalesce(recorded_at, '-infinity') <= $5
), vals AS (
    SELECT ids.measured_at, coalesce(rev.value, ids.live) AS v
    FROM ids LEFT JOIN LATERAL (
        SELECT value FROM rm_measurement_revisions r
        WHERE r.device_id = $1 AND r.measurement_id = ids.measurement_id AND r.superseded_at > $5
        ORDER BY r.superseded_at, r.revision LIMIT 1
    ) rev ON true
)
SELECT (measured_at AT TIME ZONE $6)::date, count(v), sum(v), min(v), max(v)
FROM vals WHERE v IS NOT NULL GROUP BY 1 ORDER BY 1`

// writeDailyAsOf answers daily aggregates as they stood at recorded time
// asOf, for audits. It reads raw rows, so it costs what the range holds.
func (a *api) writeDailyAsOf(w http.ResponseWriter, r *http.Request, d *device, name string, from, to, asOf time.Time) {
	zone := d.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, d.zone)
	end := time.Date(to.Year(), to.Month(), to.Day()+1, 0, 0, 0, 0, d.zone)
	rows, err := a.db.Query(r.Context(), asOfDailySQL, d.ID, name, start, end, asOf, zone)
	if err != nil {
		serverError(w, err)
		return
	}
	days, err := collectDays(rows)
	if err != nil {
		serverError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"days": days, "as_of": asOf.UTC()})
}

const (
	bucketSpecSQL = `SELECT width_seconds, zone FROM projection_buckets WHERE name = $1`
	bucketsSQL    = `
SELECT start, count, sum, min, max FROM rm_buckets
WHERE projection = $1 AND device_id = $2 AND name = $3 AND start >= $4 AND start < $5
ORDER BY start`
)

// stationBuckets answers an operator-defined bucket projection (e.g. 15
// minutes, or days in another zone); "hour" there is each bucket's start.
func (a *api) stationBuckets(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r, "station", mux.Vars(r)["id"])
	if !ok {
		return
	}
	projection := mux.Vars(r)["projection"]
	var (
		widthSeconds int
		zone         string
	)
	err := a.db.QueryRow(r.Context(), bucketSpecSQL, projection).Scan(&widthSeconds, &zone)
	if errors.Is(err, pgx.ErrNoRows) {
		httpx.WriteError(w, http.StatusNotFound, "projection_not_found", "no bucket projection "+strconv.Quote(projection))
		return
	}
	if err != nil {
		serverError(w, err)
		return
	}
	q := query{vals: r.URL.Query()}
	typ := q.name("type")
	to := q.time("to", a.clock())
	from := q.time("from", to.Add(-24*time.Hour))
	if q.err == nil && !from.Before(to) {
		q.err = errors.New("from must be before to")
	}
	if q.err == nil && to.Sub(from)/time.Duration(widthSeconds)/time.Second > 100_000 {
		q.err = errors.New("at most 100,000 buckets at once")
	}
	if q.err != nil {
		badRequest(w, q.err)
		return
	}
	rows, err := a.db.Query(r.Context(), bucketsSQL, projection, d.ID, typ, from, to)
	if err != nil {
		serverError(w, err)
		return
	}
	buckets := make([]bucket, 0, 96)
	var b bucket
	_, err = pgx.ForEachRow(rows, []any{&b.Start, &b.Count, &b.Sum, &b.Min, &b.Max}, func() error {
		b.Start = b.Start.UTC()
		b.Avg = b.Sum / float64(b.Count)
		buckets = append(buckets, b)
		return nil
	})
	if err != nil {
		serverError(w, err)
		return
	}
	if zone == "" {
		zone = d.TimeZone
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"projection": projection, "width_seconds": widthSeconds, "timezone": zone, "buckets": buckets})
}

type bucket struct {
	Start time.Time `json:"start"`
	Count int64     `json:"count"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Avg   float64   `json:"avg"`
	Sum   float64   `json:"sum"`
}

type hour struct {
	Hour  time.Time `json:"hour"`
	Count int64     `json:"count"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Avg   float64   `json:"avg"`
	Sum   float64   `json:"sum"`
}

// stationHourly answers hourly aggregates; "hour" is the instant the local
// hour starts in the station's zone.
func (a *api) stationHourly(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r, "station", mux.Vars(r)["id"])
	if !ok {
		return
	}
	q := query{vals: r.URL.Query()}
	typ := q.name("type")
	to := q.time("to", a.clock())
	from := q.time("from", to.Add(-48*time.Hour))
	if q.err == nil && !from.Before(to) {
		q.err = errors.New("from must be before to")
	}
	if q.err == nil && to.Sub(from) > 400*24*time.Hour {
		q.err = errors.New("at most 400 days of hours at once")
	}
	if q.err != nil {
		badRequest(w, q.err)
		return
	}
	rows, err := a.db.Query(r.Context(), hourlySQL, d.ID, typ, from, to)
	if err != nil {
		serverError(w, err)
		return
	}
	hours := make([]hour, 0, 64)
	var h hour
	_, err = pgx.ForEachRow(rows, []any{&h.Hour, &h.Count, &h.Sum, &h.Min, &h.Max}, func() error {
		h.Hour = h.Hour.UTC()
		h.Avg = h.Sum / float64(h.Count)
		hours = append(hours, h)
		return nil
	})
	if err != nil {
		serverError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"hours": hours})
}

type historyEntry struct {
	Type    string          `json:"type"`
	At      time.Time       `json:"at"`
	Version *int64          `json:"version,omitempty"`
	Details json.RawMessage `json:"details"`
}

// history answers a device's audit trail, oldest first; "next" pages on.
func (a *api) history(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, ok := a.device(w, r, kind, mux.Vars(r)["id"])
		if !ok {
			return
		}
		q := query{vals: r.URL.Query()}
		limit := q.intIn("limit", 100, 1, 1000)
		var afterCommit, afterPrepare int64 = -1, -1
		if c := q.get("cursor"); c != "" {
			a, b, ok := strings.Cut(c, "-")
			x, err1 := strconv.ParseInt(a, 10, 64)
			y, err2 := strconv.ParseInt(b, 10, 64)
			if !ok || err1 != nil || err2 != nil {
				q.fail("cursor is not valid")
			}
			afterCommit, afterPrepare = x, y
		}
		if q.err != nil {
			badRequest(w, q.err)
			return
		}
		rows, err := a.db.Query(r.Context(), historySQL, d.ID+d.VID, afterCommit, afterPrepare, limit)
		if err != nil {
			serverError(w, err)
			return
		}
		entries := make([]historyEntry, 0, 16)
		var (
			commit, prepare int64
			e               historyEntry
			details         string
		)
		_, err = pgx.ForEachRow(rows, []any{&commit, &prepare, &e.Type, &e.At, &e.Version, &details}, func() error {
			e.At = e.At.UTC()
			e.Details = json.RawMessage(details)
			entries = append(entries, e)
			e.Version = nil
			return nil
		})
		if err != nil {
			serverError(w, err)
			return
		}
		body := map[string]any{"history": entries}
		if len(entries) == limit {
			body["next"] = strconv.FormatInt(commit, 10) + "-" + strconv.FormatInt(prepare, 10)
		}
		httpx.WriteJSON(w, http.StatusOK, body)
	}
}

// export streams a station's raw points or aggregates as CSV or NDJSON,
// row by row as PostgreSQL sends them: memory stays flat whatever the range.
func (a *api) export(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r, "station", mux.Vars(r)["id"])
	if !ok {
		return
	}
	q := query{vals: r.URL.Query()}
	typ := q.name("type")
	format := q.get("format")
	if format == "" {
		format = "csv"
	}
	resolution := q.get("resolution")
	if resolution == "" {
		resolution = "raw"
	}
	var (
		sql    string
		args   []any
		header []string
	)
	switch resolution {
	case "raw":
		to := q.time("to", a.clock())
		from := q.time("from", to.Add(-24*time.Hour))
		sql, args, header = `SELECT measured_at, value FROM rm_measurements
WHERE device_id = $1 AND type = $2 AND measured_at >= $3 AND measured_at < $4 ORDER BY measured_at, measurement_id`,
			[]any{d.ID, typ, from, to}, []string{"measured_at", "value"}
	case "hourly":
		to := q.time("to", a.clock())
		from := q.time("from", to.Add(-30*24*time.Hour))
		sql, args, header = `SELECT hour, count, min, max, sum / count, sum FROM rm_hourly
WHERE device_id = $1 AND name = $2 AND hour >= $3 AND hour < $4 ORDER BY hour`,
			[]any{d.ID, typ, from, to}, []string{"hour", "count", "min", "max", "avg", "sum"}
	case "daily":
		today := dateOf(a.clock().In(d.zone))
		to := q.date("to", today)
		from := q.date("from", to.AddDate(0, 0, -364))
		sql, args, header = `SELECT to_char(day, 'YYYY-MM-DD'), count, min, max, sum / count, sum FROM rm_daily
WHERE device_id = $1 AND name = $2 AND day >= $3 AND day <= $4 ORDER BY day`,
			[]any{d.ID, typ, from, to}, []string{"day", "count", "min", "max", "avg", "sum"}
	default:
		q.fail("resolution must be raw, hourly or daily")
	}
	if format != "csv" && format != "ndjson" {
		q.fail("format must be csv or ndjson")
	}
	if q.err != nil {
		badRequest(w, q.err)
		return
	}
	rows, err := a.db.Query(r.Context(), sql, args...)
	if err != nil {
		serverError(w, err)
		return
	}
	defer rows.Close()

	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+d.ID+"-"+typ+"-"+resolution+"."+format+`"`)
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriterSize(w, 64<<10)
	flusher, _ := w.(http.Flusher)
	if format == "csv" {
		out.WriteString(strings.Join(header, ",") + "\n")
	}
	var line []byte
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			break // headers are sent; a cut stream is all a client can be told
		}
		line = appendRecord(line[:0], format, header, vals)
		if _, err := out.Write(line); err != nil {
			return // the client went away
		}
		if n++; n%10000 == 0 && flusher != nil {
			_ = out.Flush()
			flusher.Flush()
		}
	}
	_ = out.Flush()
}

// appendRecord formats one exported row.
func appendRecord(buf []byte, format string, header []string, vals []any) []byte {
	if format == "ndjson" {
		buf = append(buf, '{')
	}
	for i, v := range vals {
		if i > 0 {
			buf = append(buf, ',')
		}
		if format == "ndjson" {
			buf = strconv.AppendQuote(buf, header[i])
			buf = append(buf, ':')
		}
		switch v := v.(type) {
		case time.Time:
			if format == "ndjson" {
				buf = append(buf, '"')
			}
			buf = v.UTC().AppendFormat(buf, time.RFC3339Nano)
			if format == "ndjson" {
				buf = append(buf, '"')
			}
		case float64:
			buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		case int64:
			buf = strconv.AppendInt(buf, v, 10)
		case string:
			buf = strconv.AppendQuote(buf, v) // only dates here: no CSV quoting needed beyond this
		}
	}
	if format == "ndjson" {
		buf = append(buf, '}')
	}
	return append(buf, '\n')
}
