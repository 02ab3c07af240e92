// Package webhook delivers alert webhooks over HTTP: the SSRF guard that
// checks targets at registration and at every dial (guard.go), the signed
// POST of one delivery (sender.go), and the delivery workers, one queue per
// endpoint, that take deliveries from the outbox the webhook dispatcher
// fills, retry them with exponential backoff and jitter, log every attempt
// and have an endpoint disabled after a run of failures (pool.go).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// SignatureHeader carries a delivery's signature: t=<unix seconds>,v1=<hex
// HMAC-SHA256 of "<t>.<body>" keyed with the endpoint's secret>.
const SignatureHeader = "Fleetpulse-Signature"

// Sign returns the signature header's value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Sender posts deliveries. Its client dials through the guard, uses no
// proxy (a proxy would dial for it, unchecked) and follows no redirect (a
// redirect could point anywhere): a 3xx is a failed attempt.
type Sender struct {
	client *http.Client
	now    func() time.Time
}

// NewSender builds a sender whose every request is bounded by timeout.
func NewSender(g *Guard, timeout time.Duration, now func() time.Time) *Sender {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &Sender{now: now, client: &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Result is what one attempt got.
type Result struct {
	StatusCode int // 0: no response
	Err        error
}

// Delivered reports whether the endpoint took the delivery (any 2xx).
func (r Result) Delivered() bool { return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300 }

// Send posts body to url, signed with secret; deliveryID and eventType go
// in headers so a receiver can route and drop repeats before parsing.
func (s *Sender) Send(ctx context.Context, url, secret string, deliveryID int64, eventType, eventID string, body []byte) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Result{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fleetpulse-webhooks/1")
	req.Header.Set(SignatureHeader, Sign(secret, s.now(), body))
	req.Header.Set("Fleetpulse-Delivery", strconv.FormatInt(deliveryID, 10))
	req.Header.Set("Fleetpulse-Event", eventType)
	req.Header.Set("Fleetpulse-Event-Id", eventID)
	resp, err := s.client.Do(req)
	if err != nil {
		return Result{Err: cleanError(err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	r := Result{StatusCode: resp.StatusCode}
	if !r.Delivered() {
		r.Err = fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return r
}

// cleanError drops the URL net/http puts in its errors: the delivery log
// is shown to operators, and a URL may carry a token in its query.
func cleanError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
