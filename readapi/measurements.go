package readapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// stationPoints answers raw points, the last 24 hours by default.
func (a *api) stationPoints(w http.ResponseWriter, r *http.Request) {
	d, err := a.device(r.Context(), Station, mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	q := query{vals: r.URL.Query()}
	typ := q.name("type")
	to := q.time("to", a.clock())
	from := q.time("from", to.Add(-24*time.Hour))
	limit := q.intIn("limit", a.cfg.MaxPoints, 1, a.cfg.MaxPoints)
	if q.err == nil && !from.Before(to) {
		q.fail("from must be before to")
	}
	if q.err != nil {
		writeError(w, q.err)
		return
	}
	points, more, err := a.store.Points(r.Context(), PointQuery{StationID: d.ID, Type: typ, From: from, To: to, Limit: limit})
	if err != nil {
		writeError(w, err)
		return
	}
	a.markRetention(w, r, from, false)
	writeHot(w, http.StatusOK, pointList{Points: points, Truncated: more})
}

// daily answers daily aggregates of a station's type or a vehicle's
// reading (named by nameParam); days default to the last 365 in the
// device's own zone. A station's may be asked as they stood at as_of.
func (a *api) daily(kind Kind, nameParam string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := a.device(r.Context(), kind, mux.Vars(r)["id"])
		if err != nil {
			writeError(w, err)
			return
		}
		q := query{vals: r.URL.Query()}
		name := q.name(nameParam)
		zone := d.zone()
		today := dateOf(a.clock().In(zone))
		to := q.date("to", today)
		from := q.date("from", to.AddDate(0, 0, -364))
		if q.err == nil && to.Before(from) {
			q.fail("from must not be after to")
		}
		if q.err == nil && to.Sub(from) > 20*366*24*time.Hour {
			q.fail("at most 20 years of days at once")
		}
		var asOf time.Time
		if kind == Station && q.get("as_of") != "" {
			asOf = q.time("as_of", time.Time{})
		}
		if q.err != nil {
			writeError(w, q.err)
			return
		}
		if !asOf.IsZero() {
			a.dailyAsOf(w, r, d, name, from, to, asOf)
			return
		}
		days, err := a.store.Daily(r.Context(), DayQuery{DeviceID: d.ID, Name: name, From: from, To: to})
		if err != nil {
			writeError(w, err)
			return
		}
		writeHot(w, http.StatusOK, dayList{Days: days})
	}
}

// dailyAsOf answers a station's daily aggregates as they stood at recorded
// time asOf, for audits. The store reads raw rows, so it costs what the
// range holds.
func (a *api) dailyAsOf(w http.ResponseWriter, r *http.Request, d Device, typ string, from, to, asOf time.Time) {
	zone, zoneName := d.zone(), d.TimeZone
	if zoneName == "" {
		zoneName = "UTC"
	}
	days, err := a.store.DailyAsOf(r.Context(), AsOfQuery{StationID: d.ID, Type: typ,
		Start: time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, zone),
		End:   time.Date(to.Year(), to.Month(), to.Day()+1, 0, 0, 0, 0, zone),
		Zone:  zoneName, AsOf: asOf})
	if err != nil {
		writeError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, dayListAsOf{AsOf: asOf.UTC(), Days: days})
}

// stationHourly answers hourly aggregates; "hour" is the instant the local
// hour starts in the station's zone.
func (a *api) stationHourly(w http.ResponseWriter, r *http.Request) {
	d, err := a.device(r.Context(), Station, mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	q := query{vals: r.URL.Query()}
	typ := q.name("type")
	to := q.time("to", a.clock())
	from := q.time("from", to.Add(-48*time.Hour))
	if q.err == nil && !from.Before(to) {
		q.fail("from must be before to")
	}
	if q.err == nil && to.Sub(from) > 400*24*time.Hour {
		q.fail("at most 400 days of hours at once")
	}
	if q.err != nil {
		writeError(w, q.err)
		return
	}
	hours, err := a.store.Hourly(r.Context(), RangeQuery{DeviceID: d.ID, Name: typ, From: from, To: to})
	if err != nil {
		writeError(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, hourList{Hours: hours})
}

// stationBuckets answers an operator-defined bucket projection (e.g. 15
// minutes, or days in another zone).
func (a *api) stationBuckets(w http.ResponseWriter, r *http.Request) {
	d, err := a.device(r.Context(), Station, mux.Vars(r)["id"])
	if err != nil {
		writeError(w, err)
		return
	}
	name := mux.Vars(r)["projection"]
	p, err := a.store.BucketProjection(r.Context(), name)
	if err != nil {
		writeError(w, refuseIf(err, ErrProjectionNotFound, "no bucket projection "+strconv.Quote(name)))
		return
	}
	q := query{vals: r.URL.Query()}
	typ := q.name("type")
	to := q.time("to", a.clock())
	from := q.time("from", to.Add(-24*time.Hour))
	if q.err == nil && !from.Before(to) {
		q.fail("from must be before to")
	}
	if q.err == nil && to.Sub(from)/time.Duration(p.WidthSeconds)/time.Second > 100_000 {
		q.fail("at most 100,000 buckets at once")
	}
	if q.err != nil {
		writeError(w, q.err)
		return
	}
	buckets, err := a.store.Buckets(r.Context(), name, RangeQuery{DeviceID: d.ID, Name: typ, From: from, To: to})
	if err != nil {
		writeError(w, err)
		return
	}
	zone := p.Zone
	if zone == "" {
		zone = d.TimeZone
	}
	httpx.WriteJSON(w, http.StatusOK, bucketList{Buckets: buckets, Projection: name, TimeZone: zone, WidthSeconds: p.WidthSeconds})
}

// measurements is the seed system's dashboard query: raw points for up to
// 7 days, daily rows beyond.
func (a *api) measurements(w http.ResponseWriter, r *http.Request) {
	q := query{vals: r.URL.Query()}
	station := q.get("station")
	if station == "" {
		q.fail("station is required")
	}
	typ := q.name("type")
	n := q.intIn("days", 1, 1, 3660)
	if q.err != nil {
		writeError(w, q.err)
		return
	}
	d, err := a.device(r.Context(), Station, station)
	if err != nil {
		writeError(w, err)
		return
	}
	if n <= 7 {
		to := a.clock()
		from := to.Add(-time.Duration(n) * 24 * time.Hour)
		points, more, err := a.store.Points(r.Context(), PointQuery{StationID: d.ID, Type: typ, From: from, To: to, Limit: a.cfg.MaxPoints})
		if err != nil {
			writeError(w, err)
			return
		}
		a.markRetention(w, r, from, false)
		writeHot(w, http.StatusOK, measurementsRaw{Points: points, RangeDays: n, Resolution: "raw", Station: d.ID, Truncated: more, Type: typ})
		return
	}
	today := dateOf(a.clock().In(d.zone()))
	days, err := a.store.Daily(r.Context(), DayQuery{DeviceID: d.ID, Name: typ, From: today.AddDate(0, 0, -(n - 1)), To: today})
	if err != nil {
		writeError(w, err)
		return
	}
	writeHot(w, http.StatusOK, measurementsDaily{Days: days, RangeDays: n, Resolution: "daily", Station: d.ID, Type: typ})
}
