package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the plumbing every mode shares: the HTTP client and its
// requests, the tally of failed requests, polling until a condition holds,
// and the tickers that run beside a load.

// httpClient is the client of every mode; readKey (when set) goes with
// each request that carries no Authorization of its own (readKeyTransport).
func httpClient(conns int, timeout time.Duration, readKey string) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy: loopback only
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	return &http.Client{Transport: readKeyTransport{next: tr, key: readKey}, Timeout: timeout}
}

// readKeyTransport sends the read key as the bearer token of every request
// without one: the read API asks for a key on every data route and on
// /metrics, while the command API's writes carry their own token.
type readKeyTransport struct {
	next http.RoundTripper
	key  string
}

func (t readKeyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.key != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.key)
	}
	return t.next.RoundTrip(r)
}

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
	return do(c, req, out)
}

// get fetches url and decodes a 2xx answer into out (when set).
func get(ctx context.Context, c *http.Client, url string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	return do(c, req, out)
}

// do sends req and reads the whole answer, so the connection is reused.
func do(c *http.Client, req *http.Request, out any) (int, error) {
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

// errorTally counts failed requests by kind ("status 503", "transport:
// timeout") into a result's map, from many goroutines.
type errorTally struct {
	mu    sync.Mutex
	kinds map[string]int64
	total atomic.Int64
}

func newErrorTally(kinds map[string]int64) *errorTally { return &errorTally{kinds: kinds} }

// failed records a request that ended with err, or else with status st.
func (t *errorTally) failed(st int, err error) {
	key := "status " + strconv.Itoa(st)
	if err != nil {
		key = "transport: " + shortErr(err)
	}
	t.total.Add(1)
	t.mu.Lock()
	t.kinds[key]++
	t.mu.Unlock()
}

func shortErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	return s
}

// waitFor calls ok every 50 ms until it holds, limit passes or ctx ends.
func waitFor(ctx context.Context, limit time.Duration, ok func() bool) error {
	end := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(end) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// tickers runs functions on their own tickers beside a load until stop.
type tickers struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func newTickers() *tickers { return &tickers{done: make(chan struct{})} }

// every calls f every d until stop; calls of one f never overlap.
func (t *tickers) every(d time.Duration, f func()) {
	t.wg.Go(func() {
		tk := time.NewTicker(d)
		defer tk.Stop()
		for {
			select {
			case <-t.done:
				return
			case <-tk.C:
				f()
			}
		}
	})
}

// stop ends every ticker and returns once no f is running.
func (t *tickers) stop() {
	close(t.done)
	t.wg.Wait()
}
