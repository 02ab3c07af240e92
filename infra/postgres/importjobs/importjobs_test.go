package importjobs_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/importer"
	"github.com/fleetpulse/fleetpulse/infra/postgres/importjobs"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestStore_ClaimLeaseCommitReleaseAndFinish walks a job through the queue:
// its body read back whole across chunks, one claim at a time, a runner
// whose lease ran out shut out by the one that took over, a job given back,
// and a finished job's body dropped.
func TestStore_ClaimLeaseCommitReleaseAndFinish(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	s := importjobs.New(pool)
	body := strings.Repeat("station,type,value,measured_at\n", importjobs.ChunkBytes/16) // two chunks and a bit
	job, err := s.Create(ctx, importer.CSV, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if job.State != importer.StateQueued || job.BodyBytes != int64(len(body)) || job.Format != importer.CSV {
		t.Fatalf("created %+v", job)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, importer.ErrJobNotFound) {
		t.Fatalf("get of an unknown id: %v", err)
	}

	claimed, first, ok, err := s.Claim(ctx, 50*time.Millisecond)
	if err != nil || !ok || claimed.ID != job.ID || claimed.Attempts != 1 {
		t.Fatalf("claim: %+v %v %v", claimed, ok, err)
	}
	if _, _, ok, err := s.Claim(ctx, time.Minute); ok || err != nil {
		t.Fatalf("a job under lease was claimed again (%v)", err)
	}
	got, err := io.ReadAll(s.Body(ctx, job.ID))
	if err != nil || string(got) != body {
		t.Fatalf("body read back: %d bytes (%v), want %d", len(got), err, len(body))
	}
	p := importer.Progress{Rows: 10, Accepted: 8, Duplicates: 1, Rejected: 1, NextLine: 12, Rejections: []importer.Rejection{{Line: 3, Reason: "value: x"}}}
	if err := s.Commit(ctx, job.ID, first, p, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	time.Sleep(100 * time.Millisecond) // the first runner's lease runs out
	taken, second, ok, err := s.Claim(ctx, time.Minute)
	if err != nil || !ok || taken.Attempts != 2 || taken.NextLine != 12 || taken.Accepted != 8 || len(taken.Rejections) != 1 || taken.Rejections[0].Line != 3 {
		t.Fatalf("take-over: %+v %v %v", taken, ok, err)
	}
	if err := s.Commit(ctx, job.ID, first, p, time.Minute); !errors.Is(err, importer.ErrLeaseLost) {
		t.Fatalf("the first runner's commit after the take-over: %v, want ErrLeaseLost", err)
	}
	if err := s.Release(ctx, job.ID, second); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.Get(ctx, job.ID); j.State != importer.StateQueued {
		t.Fatalf("released job is %s", j.State)
	}
	_, third, ok, err := s.Claim(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim after release: %v %v", ok, err)
	}
	p.Rows, p.Accepted = 20, 18
	if err := s.Finish(ctx, job.ID, third, p, importer.StateDone, ""); err != nil {
		t.Fatal(err)
	}
	done, err := s.Get(ctx, job.ID)
	if err != nil || done.State != importer.StateDone || done.FinishedAt == nil || done.Rows != 20 {
		t.Fatalf("finished: %+v %v", done, err)
	}
	if rest, err := io.ReadAll(s.Body(ctx, job.ID)); err != nil || len(rest) != 0 {
		t.Fatalf("a finished job's body is still there: %d bytes (%v)", len(rest), err)
	}
	if _, _, ok, _ := s.Claim(ctx, time.Minute); ok {
		t.Fatal("a finished job was claimed")
	}
}
