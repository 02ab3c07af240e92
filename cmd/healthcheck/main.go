// Command healthcheck is the container health probe of the fleetpulse image.
// The runtime image has no shell and no curl, so docker-compose.yml runs
//
//	healthcheck http://127.0.0.1:8080/readyz
//
// inside each service's container. It sends one GET to the URL given as its
// first argument and exits 0 when the answer is 2xx, 1 on anything else (a
// missing argument, a bad URL, no answer within 2 seconds, any other status).
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const timeout = 2 * time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck <url>")
		os.Exit(1)
	}
	if err := check(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// check GETs url and reports an error unless the status is 2xx.
func check(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %s %s", url, resp.Status, body)
	}
	return nil
}
