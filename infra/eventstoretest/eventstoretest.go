// Package eventstoretest is the contract every event store adapter passes:
// the behaviour commands and projections rely on (expected versions,
// duplicate ids, per-stream and global order, no event ever skipped by a
// reader), written once and run against each adapter by its own tests.
//
// The suite assumes nothing about what else the store holds: every test
// writes to streams of its own, starts reading from the log's head taken
// before it wrote, and ignores events of other streams, so it runs on a
// shared server as well as on a throwaway database.
package eventstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/projections"
)

// Store is what the suite exercises: both ports and the log's head.
type Store interface {
	commands.EventStore
	projections.EventLog
	// Head returns the position of the last event readers can see now.
	Head(ctx context.Context) (domain.Position, error)
}

// Run runs the contract against stores made by newStore, which may be
// called once per group of tests; each call may return a fresh store or
// the same shared one.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	groups := []struct {
		name string
		run  func(t *testing.T, newStore func(t *testing.T) Store)
	}{
		{"Append", testAppend},
		{"ExpectedVersion", testExpectedVersion},
		{"Duplicates", testDuplicates},
		{"ReadStream", testReadStream},
		{"GlobalOrder", testGlobalOrder},
		{"Concurrency", testConcurrency},
		{"Resume", testResume},
		{"LargeBatch", testLargeBatch},
		{"Telemetry", testTelemetry},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, newStore) })
	}
}

// testTimeout bounds each group; waitVisible bounds how long a reader
// waits for committed events to become readable (PostgreSQL shows a
// commit to readers once every older transaction has ended).
const (
	testTimeout = 60 * time.Second
	waitVisible = 15 * time.Second
)

// ContractEventType is the type of the suite's own test events.
const ContractEventType = "EventStoreContractTest"

type contractEvent struct {
	Stream string `json:"stream"`
	Seq    int    `json:"seq"`
}

func (contractEvent) EventType() string { return ContractEventType }

// fixture is one group's store, context and stream namespace.
type fixture struct {
	t      *testing.T
	s      Store
	ctx    context.Context
	prefix string
}

func newFixture(t *testing.T, newStore func(t *testing.T) Store) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &fixture{t: t, s: newStore(t), ctx: ctx, prefix: "contract" + hex.EncodeToString(b) + "-"}
}

// stream names a stream of this fixture; names are unique per run.
func (f *fixture) stream(name string) string { return f.prefix + name + "-" + uuid.NewString()[:8] }

func (f *fixture) owns(stream string) bool { return strings.HasPrefix(stream, f.prefix) }

func (f *fixture) head() domain.Position {
	f.t.Helper()
	p, err := f.s.Head(f.ctx)
	if err != nil {
		f.t.Fatalf("Head: %v", err)
	}
	return p
}

// events returns n new test events of stream, numbered from seq.
func (f *fixture) events(stream string, seq, n int) []domain.EventData {
	f.t.Helper()
	out := make([]domain.EventData, n)
	for i := range out {
		e, err := domain.NewEventData(uuid.NewString(), contractEvent{Stream: stream, Seq: seq + i})
		if err != nil {
			f.t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

func (f *fixture) append(stream string, expected int64, evs []domain.EventData) domain.AppendResult {
	f.t.Helper()
	res, err := f.s.Append(f.ctx, stream, expected, evs)
	if err != nil {
		f.t.Fatalf("Append %d events to %s at %d: %v", len(evs), stream, expected, err)
	}
	return res
}

func (f *fixture) readStream(stream string) []domain.RecordedEvent {
	f.t.Helper()
	evs, err := f.s.ReadStream(f.ctx, stream)
	if err != nil {
		f.t.Fatalf("ReadStream %s: %v", stream, err)
	}
	return evs
}

// logReader pages through the log as a projector does, keeping the events
// of the fixture's streams and checking on every page that positions only
// grow and no event comes twice.
type logReader struct {
	f    *fixture
	pos  domain.Position // checkpoint: last position read, any stream
	page int
	seen map[string]bool
	own  []domain.RecordedEvent
}

func (f *fixture) reader(from domain.Position, page int) *logReader {
	return &logReader{f: f, pos: from, page: page, seen: make(map[string]bool)}
}

// step reads one page and returns how many events it held (any stream).
func (r *logReader) step() (int, error) {
	evs, err := r.f.s.ReadAfter(r.f.ctx, r.pos, r.page)
	if err != nil {
		return 0, fmt.Errorf("ReadAfter(%s, %d): %w", r.pos, r.page, err)
	}
	if len(evs) > r.page {
		return 0, fmt.Errorf("ReadAfter(%s, %d) returned %d events", r.pos, r.page, len(evs))
	}
	for _, e := range evs {
		if !r.pos.Less(e.Position) {
			return 0, fmt.Errorf("event %s at %s does not follow %s", e.ID, e.Position, r.pos)
		}
		r.pos = e.Position
		if !r.f.owns(e.StreamID) {
			continue
		}
		if r.seen[e.ID] {
			return 0, fmt.Errorf("event %s of %s read twice", e.ID, e.StreamID)
		}
		r.seen[e.ID] = true
		r.own = append(r.own, e)
	}
	return len(evs), nil
}

// until reads pages until at least n of the fixture's events were read,
// waiting for events not yet visible.
func (r *logReader) until(n int) {
	r.f.t.Helper()
	deadline := time.Now().Add(waitVisible)
	for len(r.own) < n {
		got, err := r.step()
		if err != nil {
			r.f.t.Fatal(err)
		}
		if got == 0 {
			if time.Now().After(deadline) {
				r.f.t.Fatalf("read %d of %d expected events; the rest never came (skipped?)", len(r.own), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// drain reads to the current end of the log and fails if more of the
// fixture's events than want come.
func (r *logReader) drain(want int) {
	r.f.t.Helper()
	for {
		got, err := r.step()
		if err != nil {
			r.f.t.Fatal(err)
		}
		if got == 0 {
			break
		}
	}
	if len(r.own) != want {
		r.f.t.Fatalf("read %d events of the test's streams, want %d", len(r.own), want)
	}
}

// readAll reads the fixture's events after from: exactly want of them.
func (f *fixture) readAll(from domain.Position, page, want int) []domain.RecordedEvent {
	f.t.Helper()
	r := f.reader(from, page)
	r.until(want)
	r.drain(want)
	return r.own
}

func ids(evs []domain.RecordedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func dataIDs(evs []domain.EventData) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %d ids %v\nwant %d ids %v", what, len(got), short(got), len(want), short(want))
	}
}

// short keeps failure messages readable for big batches.
func short(ids []string) []string {
	if len(ids) > 12 {
		return append(ids[:12:12], "...")
	}
	return ids
}

// jsonEqual compares JSON documents by value: stores may normalise the
// bytes (PostgreSQL jsonb reorders keys and drops spaces).
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func concat(batches ...[]domain.EventData) []domain.EventData {
	var out []domain.EventData
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}
