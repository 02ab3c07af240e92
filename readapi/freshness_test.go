package readapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/httpx"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
	"github.com/fleetpulse/fleetpulse/projections"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// TestReadAPI_AnswersSayHowFreshTheReadModelsAre: every /v1 answer, errors
// included, names the time the projector last committed to the read
// models, read again at most once a second; before anything was projected
// the header is absent rather than wrong.
func TestReadAPI_AnswersSayHowFreshTheReadModelsAre(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	serve := func() *httptest.Server {
		srv := httptest.NewServer(readapi.NewHandler(mustQueries(t, pool), readapi.Config{RequestTimeout: 10 * time.Second, Auth: readapi.AuthConfig{Open: true}},
			time.Now, httpx.NewRegistry(), logger))
		t.Cleanup(srv.Close)
		return srv
	}
	asOf := func(srv *httptest.Server, path string) (string, int) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get(readapi.DataAsOfHeader), resp.StatusCode
	}

	if h, _ := asOf(serve(), "/v1/stations"); h != "" {
		t.Errorf("nothing projected yet: %s = %q, want no header", readapi.DataAsOfHeader, h)
	}

	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, commit_pos, prepare_pos, events, updated_at)
		VALUES ($1, 1, 1, 1, '2026-05-31T10:00:00.123456Z')`, projections.ReadModels); err != nil {
		t.Fatal(err)
	}
	srv := serve()
	for _, path := range []string{"/v1/stations", "/v1/stations/nope", "/v1/vehicles?limit=0"} {
		if h, st := asOf(srv, path); h != "2026-05-31T10:00:00.123Z" {
			t.Errorf("GET %s (%d): %s = %q, want the checkpoint's time 2026-05-31T10:00:00.123Z", path, st, readapi.DataAsOfHeader, h)
		}
	}

	// The projector commits again: answers within the second still carry
	// the time read before, later ones the new time.
	if _, err := pool.Exec(ctx, `UPDATE projection_checkpoints SET updated_at = '2026-05-31T10:00:05Z' WHERE name = $1`, projections.ReadModels); err != nil {
		t.Fatal(err)
	}
	if h, _ := asOf(srv, "/v1/stations"); h != "2026-05-31T10:00:00.123Z" {
		t.Errorf("within a second of the last reading: %s = %q, want the cached 2026-05-31T10:00:00.123Z", readapi.DataAsOfHeader, h)
	}
	time.Sleep(1100 * time.Millisecond)
	if h, _ := asOf(srv, "/v1/stations"); h != "2026-05-31T10:00:05.000Z" {
		t.Errorf("a second later: %s = %q, want 2026-05-31T10:00:05.000Z", readapi.DataAsOfHeader, h)
	}
}
