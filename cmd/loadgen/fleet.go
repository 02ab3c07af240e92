package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// This file is what loadgen's devices do: register as stations and post
// batches of measurements.

var zones = []string{"Europe/Warsaw", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"}

// registerStation creates a station, or rotates the token of an existing
// one, and returns its device token.
func registerStation(ctx context.Context, c *http.Client, baseURL, admin, id, zone string) (string, error) {
	body, _ := json.Marshal(map[string]any{"id": id, "name": "loadgen " + id,
		"location": map[string]float64{"lat": 50.06, "lon": 19.94}, "timezone": zone})
	var out struct {
		Token string `json:"token"`
	}
	status, err := post(ctx, c, baseURL+"/v1/stations", admin, body, &out)
	if err != nil {
		return "", fmt.Errorf("register %s: %w", id, err)
	}
	if status == http.StatusConflict {
		status, err = post(ctx, c, baseURL+"/v1/stations/"+id+"/token", admin, nil, &out)
		if err != nil {
			return "", fmt.Errorf("rotate token of %s: %w", id, err)
		}
	}
	if status/100 != 2 || out.Token == "" {
		return "", fmt.Errorf("register %s: status %d (is -admin-token right?)", id, status)
	}
	return out.Token, nil
}

// station is a registered station and its device token.
type station struct{ id, token string }

// registerFleet registers n stations <prefix>-s0000, <prefix>-s0001, ...
// spread over the zones, 8 at a time.
func registerFleet(ctx context.Context, c *http.Client, baseURL, admin, prefix string, n int) ([]station, error) {
	fleet := make([]station, n)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range fleet {
		fleet[i].id = fmt.Sprintf("%s-s%04d", prefix, i)
		g.Go(func() error {
			var err error
			fleet[i].token, err = registerStation(ctx, c, baseURL, admin, fleet[i].id, zones[i%len(zones)])
			return err
		})
	}
	return fleet, g.Wait()
}

// measurement is one item of a batch body.
type measurement struct {
	id    string
	typ   string
	value float64
	at    time.Time
}

// appendBatch writes {"measurements":[...]} without encoding/json: loadgen
// shares the machine's two cores with the system it measures.
func appendBatch(buf []byte, ms []measurement) []byte {
	buf = append(buf, `{"measurements":[`...)
	for i, m := range ms {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":"`...)
		buf = append(buf, m.id...)
		buf = append(buf, `","type":"`...)
		buf = append(buf, m.typ...)
		buf = append(buf, `","value":`...)
		buf = strconv.AppendFloat(buf, m.value, 'f', -1, 64)
		buf = append(buf, `,"measured_at":"`...)
		buf = m.at.UTC().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, `"}`...)
	}
	return append(buf, "]}"...)
}

// batchAnswer is the command API's answer to an accepted batch.
type batchAnswer struct {
	Accepted   int64 `json:"accepted"`
	Duplicates int64 `json:"duplicates"`
}

// postBatch posts a batch body to a station's measurements; only a 201
// counts as success.
func postBatch(ctx context.Context, c *http.Client, baseURL string, s station, body []byte) (batchAnswer, int, error) {
	var out batchAnswer
	st, err := post(ctx, c, baseURL+"/v1/stations/"+s.id+"/measurements", s.token, body, &out)
	return out, st, err
}

// acceptedTally sums the answers of accepted batches from many goroutines.
type acceptedTally struct{ accepted, duplicates atomic.Int64 }

func (t *acceptedTally) add(a batchAnswer) {
	t.accepted.Add(a.Accepted)
	t.duplicates.Add(a.Duplicates)
}
