package readapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// TestReadAPI_ARawViewReachingPastTheRetentionSaysFromWhenItKeeps: raw
// points, the dashboard's raw view, a raw export and a vehicle's events
// asked from before what the raw read models keep answer 200 with what is
// kept and the Fleetpulse-Raw-Retained-From header; asked from after it,
// no header.
func TestReadAPI_ARawViewReachingPastTheRetentionSaysFromWhenItKeeps(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	seedReadModels(t, pool)
	kept := specNow.Add(-48 * time.Hour)
	if _, err := pool.Exec(context.Background(), `INSERT INTO rm_retention (table_name, kept_from) VALUES
		('rm_measurement_chunks', $1), ('rm_vehicle_event_chunks', $1)`, kept); err != nil {
		t.Fatal(err)
	}
	url := newReadAPI(t, pool, specNow)
	old, recent := specNow.Add(-72*time.Hour).Format(time.RFC3339), specNow.Add(-24*time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/v1/stations/st-1/measurements?type=pm25&from=" + old, kept.Format(time.RFC3339)},
		{"/v1/stations/st-1/measurements?type=pm25&from=" + recent, ""},
		{"/v1/measurements?station=st-1&type=pm25&days=3", kept.Format(time.RFC3339)},
		{"/v1/measurements?station=st-1&type=pm25&days=1", ""},
		{"/v1/stations/st-1/export?type=pm25&from=" + old, kept.Format(time.RFC3339)},
		{"/v1/vehicles/veh-1/events?from=" + old, kept.Format(time.RFC3339)},
		{"/v1/vehicles/veh-1/events?from=" + recent, ""},
	} {
		resp, err := http.Get(url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get(readapi.RawRetainedFromHeader) != tc.want {
			t.Errorf("GET %s: %d, %s %q; want 200 and %q", tc.path, resp.StatusCode, readapi.RawRetainedFromHeader,
				resp.Header.Get(readapi.RawRetainedFromHeader), tc.want)
		}
	}
}
