package httpx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServe_DropsAClientThatSendsItsHeadersTooSlowly opens a connection that
// starts a request and never finishes its headers (slowloris): the server
// must close it after its header time limit (5 s) instead of holding a
// connection and a goroutine for as long as the client likes, and a request
// the handler did not finish must not run.
func TestServe_DropsAClientThatSendsItsHeadersTooSlowly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	handled := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { handled <- struct{}{} })
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", h, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), ready)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	addr := <-ready

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /v1/stations/st/measurements HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				t.Fatalf("the server still held the half-sent request after %s", time.Since(start))
			}
			break // closed by the server (EOF or reset), after a 408 or without a word
		}
	}
	took := time.Since(start)
	if took < 4*time.Second || took > 8*time.Second {
		t.Fatalf("connection closed after %s, want about the 5 s header limit", took)
	}
	select {
	case <-handled:
		t.Fatal("the handler ran for a request whose headers never arrived")
	default:
	}
}
