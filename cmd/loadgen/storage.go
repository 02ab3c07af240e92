package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/fleetpulse/fleetpulse/infra/devicesim"
	"github.com/jackc/pgx/v5"
)

// errBusy is a 429 or 503: the storage mode sends the batch again.
var errBusy = errors.New("busy")

// The storage mode measures what one item costs on disk: it posts realistic
// history through the public API (stations: one pm25 reading a minute as a
// smooth random walk; vehicles: one sample a second with 16 readings and a
// location, about 450 bytes of JSON), waits until every projection has
// applied it, and reports each table's growth (heap, indexes and TOAST, all
// partitions of a partitioned table together) and the WAL written, per item.
// Run it against a system whose database holds nothing else of the kind
// measured, on an otherwise idle server: WAL is counted server-wide.

type storageConfig struct {
	common
	api               apiFlags
	pgURL, kind       string
	stations, days    int
	vehicles          int
	hours             float64
	batch, concurrent int
	prefix            string
}

type storageTable struct {
	Table        string  `json:"table"`
	Bytes        int64   `json:"bytes"`
	BytesPerItem float64 `json:"bytes_per_item"`
}

type storageResult struct {
	Mode            string           `json:"mode"`
	Kind            string           `json:"kind"`
	Items           int64            `json:"items"`
	Accepted        int64            `json:"accepted"`
	ItemsPerRequest int              `json:"items_per_request"`
	JSONBytesPerItm float64          `json:"json_bytes_per_item"`
	Tables          []storageTable   `json:"tables"`
	AtRestPerItem   float64          `json:"at_rest_bytes_per_item"`
	WALPerItem      float64          `json:"wal_bytes_per_item"`
	PostSeconds     float64          `json:"post_seconds"`
	ProjectSeconds  float64          `json:"projected_seconds"`
	Errors          map[string]int64 `json:"errors"`
}

func runStorage(ctx context.Context, args []string) error {
	var c storageConfig
	fs := flag.NewFlagSet("storage", flag.ExitOnError)
	c.register(fs, 30*time.Minute)
	c.api.register(fs, "read API base URL (loopback only; not used by this mode)")
	fs.StringVar(&c.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/fleetpulse?sslmode=disable", "the measured system's database (loopback only)")
	fs.StringVar(&c.kind, "kind", "station", "what to post: station or vehicle")
	fs.IntVar(&c.stations, "stations", 20, "stations (kind station)")
	fs.IntVar(&c.days, "days", 7, "days of one-minute history per station")
	fs.IntVar(&c.vehicles, "vehicles", 10, "vehicles (kind vehicle)")
	fs.Float64Var(&c.hours, "hours", 2, "hours of one-second samples per vehicle")
	fs.IntVar(&c.batch, "batch", 60, "items per request (a device's buffered upload)")
	fs.IntVar(&c.concurrent, "concurrency", 4, "posting goroutines")
	fs.StringVar(&c.prefix, "prefix", "store", "device id prefix")
	_ = fs.Parse(args)
	if err := c.api.check(); err != nil {
		return err
	}
	if c.kind != "station" && c.kind != "vehicle" {
		return fmt.Errorf("-kind %q: want station or vehicle", c.kind)
	}
	if c.batch < 1 || c.concurrent < 1 || c.stations < 1 || c.days < 1 || c.vehicles < 1 || c.hours <= 0 {
		return errors.New("-batch, -concurrency, -stations, -days, -vehicles and -hours must be positive")
	}
	pgCfg, err := checkLoopbackPG("pg-url", c.pgURL)
	if err != nil {
		return err
	}
	ctx, done, err := c.start(ctx, 0)
	if err != nil {
		return err
	}
	defer done()
	db, err := pgx.ConnectConfig(ctx, pgCfg)
	if err != nil {
		return fmt.Errorf("connect to the measured database: %w", err)
	}
	defer db.Close(ctx)

	client := httpClient(c.concurrent+2, 2*time.Minute, c.api.readAuth())
	res := &storageResult{Mode: "storage", Kind: c.kind, ItemsPerRequest: c.batch, Errors: map[string]int64{}}
	var uploads []upload
	if c.kind == "station" {
		uploads, err = c.stationUploads(ctx, client)
	} else {
		uploads, err = c.vehicleUploads(ctx, client)
	}
	if err != nil {
		return err
	}
	// Registrations are not what is measured: let them be projected first.
	if err := waitProjected(ctx, db, time.Until(time.Now().Add(c.duration))); err != nil {
		return err
	}
	before, err := tableSizes(ctx, db)
	if err != nil {
		return err
	}
	walBefore, err := walLSN(ctx, db)
	if err != nil {
		return err
	}

	var jsonBytes int64
	for _, u := range uploads {
		res.Items += int64(u.items)
		jsonBytes += int64(u.itemBytes)
	}
	res.JSONBytesPerItm = float64(jsonBytes) / float64(res.Items)
	errs := newErrorTally(res.Errors)
	var tally acceptedTally
	work := make(chan upload)
	var wg sync.WaitGroup
	start := time.Now()
	for range c.concurrent {
		wg.Go(func() {
			for u := range work {
				var out batchAnswer
				// Every item must get in for the figures to mean anything:
				// a device over its rate, or a busy system, sends again
				// (every 200 ms, 100 times at most).
				st, err := backoff.Retry(ctx, func() (int, error) {
					st, err := post(ctx, client, u.url, u.token, u.body, &out)
					if err != nil {
						return st, backoff.Permanent(err)
					}
					if st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable {
						errs.failed(st, nil)
						return st, errBusy
					}
					return st, nil
				}, backoff.WithBackOff(backoff.NewConstantBackOff(200*time.Millisecond)), backoff.WithMaxTries(101), backoff.WithMaxElapsedTime(0))
				switch {
				case errors.Is(err, errBusy): // counted at each answer
					continue
				case err != nil || st != http.StatusCreated:
					errs.failed(st, err)
					continue
				}
				tally.add(out)
			}
		})
	}
	for _, u := range uploads {
		select {
		case work <- u:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	res.PostSeconds = time.Since(start).Seconds()
	res.Accepted = tally.accepted.Load()
	fmt.Fprintf(os.Stderr, "posted %d items in %.1f s; waiting until every projection has applied them...\n", res.Accepted, res.PostSeconds)
	if err := waitProjected(ctx, db, time.Until(start.Add(c.duration))); err != nil {
		return err
	}
	res.ProjectSeconds = time.Since(start).Seconds()
	walAfter, err := walLSN(ctx, db)
	if err != nil {
		return err
	}
	after, err := tableSizes(ctx, db)
	if err != nil {
		return err
	}
	items := float64(max(res.Accepted, 1))
	res.WALPerItem = float64(walAfter-walBefore) / items
	var total int64
	for name, b := range after {
		if grew := b - before[name]; grew != 0 {
			res.Tables = append(res.Tables, storageTable{Table: name, Bytes: grew, BytesPerItem: round3(float64(grew) / items)})
			total += grew
		}
	}
	sort.Slice(res.Tables, func(i, j int) bool { return res.Tables[i].Bytes > res.Tables[j].Bytes })
	res.AtRestPerItem = round3(float64(total) / items)
	res.WALPerItem = round3(res.WALPerItem)
	res.JSONBytesPerItm = round3(res.JSONBytesPerItm)
	printStorage(res)
	return c.writeJSON(res)
}

func printStorage(r *storageResult) {
	t := newTable(fmt.Sprintf("storage: %d %s items, %d per request, %.0f B of JSON each", r.Accepted, r.Kind, r.ItemsPerRequest, r.JSONBytesPerItm))
	t.row("table (with indexes and TOAST)", "grew (bytes)", "bytes per item")
	for _, tb := range r.Tables {
		t.row(tb.Table, tb.Bytes, tb.BytesPerItem)
	}
	t.row("all at rest", "", r.AtRestPerItem)
	t.row("WAL written", "", r.WALPerItem)
	t.row("posting took (s)", r.PostSeconds, "")
	t.row("until projected (s)", r.ProjectSeconds, "")
	t.row("refusals (retried) and errors", fmt.Sprint(r.Errors), "")
	t.flush()
}

// upload is one prepared request: a device's buffered batch.
type upload struct {
	url, token string
	body       []byte
	items      int
	itemBytes  int // JSON bytes of the items alone
}

// stationUploads registers the stations and prepares their history: one
// pm25 reading a minute, a random walk with small steps and one decimal.
func (c *storageConfig) stationUploads(ctx context.Context, client *http.Client) ([]upload, error) {
	fleet, err := registerFleet(ctx, client, c.api.url, c.api.admin, c.prefix, c.stations)
	if err != nil {
		return nil, err
	}
	perStation := c.days * 24 * 60
	end := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	first := end.Add(-time.Duration(perStation-1) * time.Minute)
	var out []upload
	for si, s := range fleet {
		rng := rand.New(rand.NewPCG(uint64(si)+1, 42))
		v := 8 + rng.Float64()*20
		ms := make([]measurement, 0, c.batch)
		flush := func() {
			body := appendBatch(nil, ms)
			out = append(out, upload{url: c.api.url + "/v1/stations/" + s.id + "/measurements", token: s.token,
				body: body, items: len(ms), itemBytes: len(body) - len(`{"measurements":[]}`) - (len(ms) - 1)})
			ms = ms[:0]
		}
		for i := range perStation {
			v = math.Max(0, v+rng.NormFloat64()*0.2)
			ms = append(ms, measurement{id: s.id + "-" + strconv.Itoa(i), typ: "pm25",
				value: math.Round(v*10) / 10, at: first.Add(time.Duration(i) * time.Minute)})
			if len(ms) == c.batch {
				flush()
			}
		}
		if len(ms) > 0 {
			flush()
		}
	}
	return out, nil
}

// vehicleUploads registers the vehicles and prepares their samples: one a
// second, 16 readings and a location moving with the speed.
func (c *storageConfig) vehicleUploads(ctx context.Context, client *http.Client) ([]upload, error) {
	perVehicle := int(c.hours * 3600)
	end := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	first := end.Add(-time.Duration(perVehicle-1) * time.Second)
	var out []upload
	for vi := range c.vehicles {
		vid := fmt.Sprintf("%s-v%04d", c.prefix, vi)
		token, err := registerVehicle(ctx, client, c.api.url, c.api.admin, vid)
		if err != nil {
			return nil, err
		}
		walk := devicesim.NewVehicleWalk(uint64(vi) + 1)
		var buf []byte
		n, itemBytes := 0, 0
		flush := func() {
			body := append(append([]byte(`{"events":[`), buf...), "]}"...)
			out = append(out, upload{url: c.api.url + "/v1/vehicles/" + vid + "/events", token: token, body: body, items: n, itemBytes: itemBytes})
			buf, n, itemBytes = nil, 0, 0
		}
		for i := range perVehicle {
			walk.Next()
			vals, lat, lon := walk.Values, walk.Lat, walk.Lon
			if n > 0 {
				buf = append(buf, ',')
			}
			startLen := len(buf)
			buf = append(buf, `{"eid":"`...)
			buf = append(buf, vid...)
			buf = append(buf, '-')
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, `","type":"telemetry","occurred_at":"`...)
			buf = first.Add(time.Duration(i)*time.Second).AppendFormat(buf, time.RFC3339)
			buf = append(buf, `","readings":{`...)
			for j, r := range devicesim.VehicleReadings {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, '"')
				buf = append(buf, r.Name...)
				buf = append(buf, `":`...)
				buf = strconv.AppendFloat(buf, vals[j], 'f', r.Decimals, 64)
			}
			buf = append(buf, `},"location":{"lat":`...)
			buf = strconv.AppendFloat(buf, lat, 'f', 6, 64)
			buf = append(buf, `,"lon":`...)
			buf = strconv.AppendFloat(buf, lon, 'f', 6, 64)
			buf = append(buf, `}}`...)
			itemBytes += len(buf) - startLen
			n++
			if n == c.batch {
				flush()
			}
		}
		if n > 0 {
			flush()
		}
	}
	return out, nil
}

// registerVehicle creates a vehicle, or rotates the token of an existing
// one, and returns its device token.
func registerVehicle(ctx context.Context, c *http.Client, baseURL, admin, vid string) (string, error) {
	body := []byte(`{"vid":"` + vid + `","name":"loadgen ` + vid + `","model":"van"}`)
	var out struct {
		Token string `json:"token"`
	}
	status, err := post(ctx, c, baseURL+"/v1/vehicles", admin, body, &out)
	if err == nil && status == http.StatusConflict {
		status, err = post(ctx, c, baseURL+"/v1/vehicles/"+vid+"/token", admin, nil, &out)
	}
	if err != nil {
		return "", fmt.Errorf("register %s: %w", vid, err)
	}
	if status/100 != 2 || out.Token == "" {
		return "", fmt.Errorf("register %s: status %d (is -admin-token right?)", vid, status)
	}
	return out.Token, nil
}

// waitProjected waits until every checkpoint (projections, the forwarder)
// stands at the head of the PostgreSQL event log.
func waitProjected(ctx context.Context, db *pgx.Conn, limit time.Duration) error {
	const behindSQL = `
SELECT count(*) FROM projection_checkpoints c
WHERE c.name NOT LIKE '%\_rebuild'
  AND EXISTS (SELECT 1 FROM events e WHERE (e.tx_id, e.position) > (c.commit_pos, c.prepare_pos))`
	var lastErr error
	err := waitFor(ctx, limit, func() bool {
		var behind int
		if lastErr = db.QueryRow(ctx, behindSQL).Scan(&behind); lastErr != nil {
			return false
		}
		return behind == 0
	})
	if err != nil {
		return fmt.Errorf("waiting for the projections to catch up: %w (last query error: %v)", err, lastErr)
	}
	return nil
}

// tableSizes returns the bytes of every table of the current schema, with
// its indexes and TOAST; a partitioned table counts all its partitions.
func tableSizes(ctx context.Context, db *pgx.Conn) (map[string]int64, error) {
	rows, err := db.Query(ctx, `
SELECT coalesce(pg_partition_root(c.oid), c.oid)::regclass::text, sum(pg_total_relation_size(c.oid))::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')
GROUP BY 1`)
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{}
	var name string
	var size int64
	_, err = pgx.ForEachRow(rows, []any{&name, &size}, func() error {
		sizes[name] = size
		return nil
	})
	return sizes, err
}

func walLSN(ctx context.Context, db *pgx.Conn) (int64, error) {
	var lsn int64
	err := db.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&lsn)
	return lsn, err
}
