// Package httpxtest helps tests send arbitrary (fuzzed) requests to
// fleetpulse's HTTP APIs and judge only what the APIs themselves answered.
package httpxtest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
)

// Answer is an API's whole answer to one request.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Send sends req with client and reads the whole answer. It reports false
// when there is nothing of the API's to judge: the client would not send the
// request (a header holding a newline, say), or net/http's server refused the
// request line itself (a plain-text 400 before any handler ran). No answer
// within the client's timeout fails t.
func Send(t testing.TB, client *http.Client, req *http.Request) (Answer, bool) {
	t.Helper()
	resp, err := client.Do(req)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("%s %s: no answer within %s", req.Method, req.URL, client.Timeout)
	}
	if err != nil {
		return Answer{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusBadRequest && resp.Header.Get("Content-Type") == "text/plain; charset=utf-8" {
		return Answer{}, false // the server may close the connection before the body is read
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL, err)
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, true
}
