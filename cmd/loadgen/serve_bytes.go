package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// runServeBytes is the ceiling the read API is measured against: an HTTP
// server (Go's net/http, as the read API) that answers each of the given
// read API URLs with the very bytes the read API answered once, and does
// nothing else. wrk against it and against the read API, side by side,
// says how close to "only writing the bytes" the read API gets.
func runServeBytes(ctx context.Context, args []string) error {
	var (
		c       common
		addr    string
		copies  string
		readKey string
	)
	fs := flag.NewFlagSet("serve-bytes", flag.ExitOnError)
	c.register(fs, 10*time.Minute)
	fs.StringVar(&addr, "addr", "127.0.0.1:18090", "loopback address to serve on")
	fs.StringVar(&readKey, "read-key", cmp.Or(os.Getenv("FLEETPULSE_READ_KEY"), os.Getenv("FLEETPULSE_ADMIN_TOKEN")),
		"read API key for -copy (default $FLEETPULSE_READ_KEY; else $FLEETPULSE_ADMIN_TOKEN, which the read API accepts)")
	fs.StringVar(&copies, "copy", "", "comma-separated read API URLs whose answers to serve (same path and query here)")
	_ = fs.Parse(args)
	if host, _, err := net.SplitHostPort(addr); err != nil || !isLoopbackHost(host) {
		return fmt.Errorf("-addr %q: want a loopback host:port", addr)
	}
	bodies := map[string][]byte{}
	client := httpClient(1, 30*time.Second, readKey)
	for _, raw := range strings.Split(copies, ",") {
		if raw == "" {
			continue
		}
		u, err := checkLoopbackURL("copy", raw)
		if err != nil {
			return err
		}
		resp, err := client.Get(u)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d %v", u, resp.StatusCode, err)
		}
		parsed, _ := url.Parse(u)
		bodies[parsed.RequestURI()] = b
		fmt.Printf("serving %d bytes at %s\n", len(b), parsed.RequestURI())
	}
	if len(bodies) == 0 {
		return errors.New("-copy names no URL")
	}
	ctx, done, err := c.start(ctx, 0)
	if err != nil {
		return err
	}
	defer done()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
