package importer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// slowHandlers answers telemetry commands after a random pause, keeping
// what each station was sent in arrival order: the command side as a
// pipelined import sees it, without a database.
type slowHandlers struct {
	mu       sync.Mutex
	rng      *rand.Rand
	sent     map[string][]string // station -> measurement ids, in the order received
	commands atomic.Int64
	failAt   int64 // the command that fails as unavailable (0: none)
	closed   atomic.Bool
}

func (h *slowHandlers) Dispatch(ctx context.Context, cmd any) (commands.Outcome, error) {
	if h.closed.Load() {
		panic("a command sent after Run returned")
	}
	c := cmd.(*commands.RecordMeasurements)
	n := h.commands.Add(1)
	h.mu.Lock()
	pause := time.Duration(h.rng.IntN(3000)) * time.Microsecond
	h.mu.Unlock()
	time.Sleep(pause)
	if n == h.failAt {
		return commands.Outcome{}, errDiskFull
	}
	if c.StationID == "gone" {
		return commands.Outcome{}, fmt.Errorf("station gone: %w", domain.ErrDeviceNotFound)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range c.Measurements {
		h.sent[c.StationID] = append(h.sent[c.StationID], m.ID)
	}
	return commands.Outcome{Accepted: len(c.Measurements)}, nil
}

// errDiskFull is a command's failure that is not the rows' fault, and not
// passing: the import stops on it.
var errDiskFull = errors.New("no space left on device")

// pipelineFile is a CSV file of rows for 5 stations (one unknown), ids in
// file order, and a bad row every 97 lines.
func pipelineFile(rows int) (file string, want map[string][]string, rejected int64) {
	var b strings.Builder
	b.WriteString("station,id,type,value,measured_at\n")
	want = map[string][]string{}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		line := i + 2
		station := []string{"a", "b", "c", "d", "gone"}[i%5]
		id := fmt.Sprintf("%s-%05d", station, i)
		value := "1.5"
		if line%97 == 0 {
			value = "n/a"
			rejected++
		} else if station == "gone" {
			rejected++
		} else {
			want[station] = append(want[station], id)
		}
		fmt.Fprintf(&b, "%s,%s,pm25,%s,%s\n", station, id, value, at.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	return b.String(), want, rejected
}

func TestRun_PipelinedBatchesCommitInOrderAndKeepEachStationsOrder(t *testing.T) {
	t.Parallel()
	const rows = 3000
	file, want, rejected := pipelineFile(rows)
	h := &slowHandlers{rng: rand.New(rand.NewPCG(1, 2)), sent: map[string][]string{}}
	im := New(h, Config{BatchSize: 100, InFlight: 5, Policy: domain.DefaultTelemetryPolicy})
	dec, err := NewDecoder(CSV, strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var commits []Progress
	p, err := im.Run(context.Background(), dec, Progress{}, func(_ context.Context, p Progress) error {
		commits = append(commits, p)
		return nil
	})
	h.closed.Store(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(commits) != rows/100 {
		t.Fatalf("%d commits, want one per batch, %d", len(commits), rows/100)
	}
	for i, c := range commits {
		if c.NextLine != int64(i+1)*100+2 || c.Rows != int64(i+1)*100 || c.Accepted+c.Rejected != c.Rows {
			t.Fatalf("commit %d: %+v, want batches committed in file order", i, c)
		}
	}
	for station, ids := range want {
		if got := h.sent[station]; strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Errorf("station %s was sent %d measurements out of file order or not all (want %d)", station, len(got), len(ids))
		}
	}
	if p.Rows != rows || p.Rejected != rejected || p.Accepted != rows-rejected {
		t.Fatalf("progress %d rows, %d accepted, %d rejected; want %d, %d, %d", p.Rows, p.Accepted, p.Rejected, rows, rows-rejected, rejected)
	}
	last := int64(0)
	for _, r := range p.Rejections {
		if r.Line <= last {
			t.Fatalf("rejections not in line order: %+v", p.Rejections)
		}
		last = r.Line
	}
}

func TestRun_ACommandThatFailsStopsAtTheLastCommittedBatchAndSendsNothingAfter(t *testing.T) {
	t.Parallel()
	file, _, _ := pipelineFile(2000)
	h := &slowHandlers{rng: rand.New(rand.NewPCG(3, 4)), sent: map[string][]string{}, failAt: 37}
	im := New(h, Config{BatchSize: 100, InFlight: 4, Policy: domain.DefaultTelemetryPolicy})
	dec, err := NewDecoder(CSV, strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var committed Progress
	p, err := im.Run(context.Background(), dec, Progress{}, func(_ context.Context, p Progress) error {
		committed = p
		return nil
	})
	h.closed.Store(true)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("error %v, want the command's", err)
	}
	if p.NextLine != committed.NextLine || p.Rows != committed.Rows || p.NextLine == 0 || p.Rows >= 2000 {
		t.Fatalf("returned %+v, last committed %+v: want the last commit, part-way", p, committed)
	}
	time.Sleep(10 * time.Millisecond) // a command sent late would panic in Dispatch
}
