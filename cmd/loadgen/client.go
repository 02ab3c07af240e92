package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// post sends body (raw JSON) with a bearer token and returns the status;
// when out is set and the answer is 2xx, the body is decoded into it.
func post(ctx context.Context, c *http.Client, url, token string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// get fetches url and decodes a 200 answer into out (when set).
func get(ctx context.Context, c *http.Client, url string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

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
