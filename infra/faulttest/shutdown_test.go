package faulttest

import (
	"net"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestSIGTERMWithAnIdleClientConnectionExitsZeroWithinTheShutdownTimeout
// holds a TCP connection open that has not sent a request yet, as a load
// balancer's or an HTTP client's pre-opened connection does, and sends
// SIGTERM: nothing is in flight, so every process must stop promptly and
// exit 0.
func TestSIGTERMWithAnIdleClientConnectionExitsZeroWithinTheShutdownTimeout(t *testing.T) {
	_, pgURL := pgtest.NewDatabase(t)
	const shutdownTimeout = 3 * time.Second
	extra := map[string]string{"FLEETPULSE_SHUTDOWN_TIMEOUT": shutdownTimeout.String()}
	for _, spec := range []*processSpec{
		commandAPISpec(t, pgURL, extra),
		readAPISpec(t, pgURL, extra),
		projectorSpec(t, pgURL, extra),
	} {
		t.Run(spec.name, func(t *testing.T) {
			t.Parallel()
			p := spec.startReady(t)
			conn, err := net.Dial("tcp", spec.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			time.Sleep(50 * time.Millisecond) // let the server accept it
			code, took := p.terminate(t, shutdownTimeout+2*time.Second)
			if code != 0 || took > time.Second {
				t.Errorf("%s, SIGTERM with one idle client connection open: exit %d after %s (-1: still running); want exit 0 within a second.\n"+
					"Go's http.Server.Shutdown counts a connection that has not sent a request (StateNew) as active until it is 5 s old, "+
					"so httpx.Serve waits for it and, with FLEETPULSE_SHUTDOWN_TIMEOUT <= 5s, returns context.DeadlineExceeded: the process exits 1 "+
					"though no request was in flight (fix belongs in infra/httpx.Serve).", spec.name, code, took.Round(time.Millisecond))
			}
		})
	}
}
