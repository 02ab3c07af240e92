package esdb

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

func newIDs(n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = uuid.New()
	}
	return out
}

func TestRecent_AnUnknownStreamIsNotKnown(t *testing.T) {
	r := newRecent(4, 10)
	if _, _, ok := r.check("s", newIDs(1)); ok {
		t.Fatal("unknown stream reported known")
	}
}

func TestRecent_RemembersLoadedAndAppendedIDs(t *testing.T) {
	r := newRecent(4, 10)
	tail := newIDs(2)
	r.load("s", 1, tail)
	more := newIDs(1)
	r.appended("s", 1, 2, more)
	probe := []uuid.UUID{tail[0], more[0], uuid.New()}
	v, seen, ok := r.check("s", probe)
	if !ok || v != 2 || fmt.Sprint(seen) != "[true true false]" {
		t.Fatalf("check = %d %v %v", v, seen, ok)
	}
}

func TestRecent_KeepsTheWindowButAlwaysTheWholeLastBatch(t *testing.T) {
	r := newRecent(3, 10)
	old := newIDs(3)
	r.load("s", 2, old)
	batch := newIDs(5)
	r.appended("s", 2, 7, batch)
	_, seen, _ := r.check("s", append(old, batch...))
	if fmt.Sprint(seen) != "[false false false true true true true true]" {
		t.Fatalf("seen %v: the window must keep the whole last batch and drop older ids", seen)
	}
	next := newIDs(1)
	r.appended("s", 7, 8, next)
	_, seen, _ = r.check("s", append(batch, next...))
	if fmt.Sprint(seen) != "[false false false true true true]" {
		t.Fatalf("seen %v: want the newest 3", seen)
	}
}

func TestRecent_AnIDKeptTwiceSurvivesTheOlderCopysEviction(t *testing.T) {
	r := newRecent(2, 10)
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	r.load("s", 1, []uuid.UUID{a, b})
	r.appended("s", 1, 2, []uuid.UUID{a}) // a duplicate that slipped through
	r.appended("s", 2, 3, []uuid.UUID{c}) // evicts b, and the older copy of a
	_, seen, _ := r.check("s", []uuid.UUID{a, b, c})
	if fmt.Sprint(seen) != "[true false true]" {
		t.Fatalf("seen %v: a's newer copy is still in the window", seen)
	}
	r.appended("s", 3, 4, []uuid.UUID{uuid.New()}) // evicts the newer copy of a
	if _, seen, _ = r.check("s", []uuid.UUID{a}); seen[0] {
		t.Fatal("a still seen after both copies left the window")
	}
}

func TestRecent_AnAppendFromAnotherVersionForgetsTheStream(t *testing.T) {
	r := newRecent(4, 10)
	r.load("s", 3, newIDs(2))
	r.appended("s", 5, 6, newIDs(1)) // someone else wrote 4 and 5 meanwhile
	if _, _, ok := r.check("s", nil); ok {
		t.Fatal("stream still known after an append from an unexpected version")
	}
}

func TestRecent_ANewStreamIsKnownAfterItsFirstAppend(t *testing.T) {
	r := newRecent(4, 10)
	ids := newIDs(2)
	r.appended("s", domain.NoStream, 1, ids)
	v, seen, ok := r.check("s", ids)
	if !ok || v != 1 || !seen[0] || !seen[1] {
		t.Fatalf("check = %d %v %v", v, seen, ok)
	}
}

func TestRecent_DropsTheLeastRecentlyUsedStream(t *testing.T) {
	r := newRecent(4, 2)
	r.load("a", 0, newIDs(1))
	r.load("b", 0, newIDs(1))
	r.check("a", nil) // a is used again; b is now the oldest
	r.load("c", 0, newIDs(1))
	if _, _, ok := r.check("b", nil); ok {
		t.Fatal("b kept")
	}
	for _, s := range []string{"a", "c"} {
		if _, _, ok := r.check(s, nil); !ok {
			t.Fatalf("%s dropped", s)
		}
	}
}
