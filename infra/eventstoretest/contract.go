package eventstoretest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

func testAppend(t *testing.T, newStore func(t *testing.T) Store) {
	f := newFixture(t, newStore)

	t.Run("FirstEventOfANewStreamIsVersionZero", func(t *testing.T) {
		f := f.sub(t)
		s := f.stream("first")
		if res := f.append(s, domain.NoStream, f.events(s, 0, 1)); res.NextVersion != 0 || len(res.Duplicates) != 0 {
			t.Fatalf("append: got %+v, want NextVersion 0 and no duplicates", res)
		}
		if evs := f.readStream(s); len(evs) != 1 || evs[0].StreamVersion != 0 {
			t.Fatalf("stream: got %+v, want one event at version 0", evs)
		}
	})

	t.Run("NextVersionIsTheVersionOfTheLastEventAppended", func(t *testing.T) {
		f := f.sub(t)
		s := f.stream("next")
		if res := f.append(s, domain.AnyVersion, f.events(s, 0, 3)); res.NextVersion != 2 {
			t.Fatalf("first append of 3: NextVersion %d, want 2", res.NextVersion)
		}
		if res := f.append(s, 2, f.events(s, 3, 2)); res.NextVersion != 4 {
			t.Fatalf("second append of 2: NextVersion %d, want 4", res.NextVersion)
		}
	})

	t.Run("AnEmptyAppendIsInvalid", func(t *testing.T) {
		f := f.sub(t)
		_, err := f.s.Append(f.ctx, f.stream("empty"), domain.AnyVersion, nil)
		if !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("got %v, want domain.ErrInvalid", err)
		}
	})
}

func testExpectedVersion(t *testing.T, newStore func(t *testing.T) Store) {
	f := newFixture(t, newStore)
	cases := []struct {
		name     string
		existing int // events in the stream before the append
		expected int64
		conflict bool
	}{
		{"NoStreamOnANewStreamSucceeds", 0, domain.NoStream, false},
		{"NoStreamOnAnExistingStreamConflicts", 2, domain.NoStream, true},
		{"TheCurrentVersionSucceeds", 3, 2, false},
		{"AStaleVersionConflicts", 3, 1, true},
		{"AVersionAheadOfTheStreamConflicts", 2, 5, true},
		{"AnExactVersionOnAMissingStreamConflicts", 0, 0, true},
		{"AnyVersionOnANewStreamSucceeds", 0, domain.AnyVersion, false},
		{"AnyVersionOnAnExistingStreamSucceeds", 4, domain.AnyVersion, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := f.sub(t)
			s := f.stream("ev")
			if tc.existing > 0 {
				f.append(s, domain.NoStream, f.events(s, 0, tc.existing))
			}
			evs := f.events(s, tc.existing, 2)
			res, err := f.s.Append(f.ctx, s, tc.expected, evs)
			if tc.conflict {
				if !errors.Is(err, domain.ErrVersionConflict) {
					t.Fatalf("got %+v, %v; want domain.ErrVersionConflict", res, err)
				}
				if got := f.readStream(s); len(got) != tc.existing {
					t.Fatalf("a conflicting append stored events: stream has %d, want %d", len(got), tc.existing)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if want := int64(tc.existing + 1); res.NextVersion != want {
				t.Fatalf("NextVersion %d, want %d", res.NextVersion, want)
			}
		})
	}
}

func testDuplicates(t *testing.T, newStore func(t *testing.T) Store) {
	f := newFixture(t, newStore)

	t.Run("AnIDRepeatedInALaterAppendIsReportedAndNotStored", func(t *testing.T) {
		f := f.sub(t)
		s := f.stream("later")
		first := f.events(s, 0, 2)
		f.append(s, domain.NoStream, first)
		second := append([]domain.EventData{first[1]}, f.events(s, 2, 1)...)
		res := f.append(s, domain.AnyVersion, second)
		sameIDs(t, "duplicates", res.Duplicates, []string{first[1].ID})
		if res.NextVersion != 2 {
			t.Fatalf("NextVersion %d, want 2", res.NextVersion)
		}
		sameIDs(t, "stream", ids(f.readStream(s)), []string{first[0].ID, first[1].ID, second[1].ID})
	})

	t.Run("AnIDRepeatedWithinOneBatchIsStoredOnce", func(t *testing.T) {
		f := f.sub(t)
		s := f.stream("batch")
		evs := f.events(s, 0, 2)
		batch := []domain.EventData{evs[0], evs[1], evs[0]}
		res := f.append(s, domain.NoStream, batch)
		sameIDs(t, "duplicates", res.Duplicates, []string{evs[0].ID})
		if res.NextVersion != 1 {
			t.Fatalf("NextVersion %d, want 1", res.NextVersion)
		}
		sameIDs(t, "stream", ids(f.readStream(s)), dataIDs(evs))
	})

	t.Run("ARetriedBatchIsReportedEntirelyAsDuplicates", func(t *testing.T) {
		f := f.sub(t)
		s := f.stream("retry")
		evs := f.events(s, 0, 3)
		f.append(s, domain.AnyVersion, evs)
		res := f.append(s, domain.AnyVersion, evs)
		sameIDs(t, "duplicates", res.Duplicates, dataIDs(evs))
		if res.NextVersion != 2 {
			t.Fatalf("NextVersion %d, want 2", res.NextVersion)
		}
		sameIDs(t, "stream", ids(f.readStream(s)), dataIDs(evs))
	})

	t.Run("DuplicatesDoNotAdvanceTheStreamVersion", func(t *testing.T) {
		f := f.sub(t)
		s := f.stream("version")
		evs := f.events(s, 0, 1)
		f.append(s, domain.NoStream, evs)
		if res := f.append(s, domain.AnyVersion, evs); res.NextVersion != 0 {
			t.Fatalf("all-duplicate append: NextVersion %d, want 0", res.NextVersion)
		}
		// The store agrees: version 0 is still current.
		if res := f.append(s, 0, f.events(s, 1, 1)); res.NextVersion != 1 {
			t.Fatalf("append at version 0 after duplicates: NextVersion %d, want 1", res.NextVersion)
		}
	})

	t.Run("DuplicatesDoNotReachTheGlobalLog", func(t *testing.T) {
		f := f.sub(t)
		base := f.head()
		s := f.stream("log")
		evs := f.events(s, 0, 3)
		f.append(s, domain.AnyVersion, evs[:2])
		f.append(s, domain.AnyVersion, evs[1:])
		f.append(s, domain.AnyVersion, evs)
		sameIDs(t, "log", ids(f.readAll(base, 100, 3)), dataIDs(evs))
	})
}

func testReadStream(t *testing.T, newStore func(t *testing.T) Store) {
	f := newFixture(t, newStore)

	t.Run("AMissingStreamIsEmpty", func(t *testing.T) {
		f := f.sub(t)
		if evs := f.readStream(f.stream("missing")); len(evs) != 0 {
			t.Fatalf("got %d events, want none", len(evs))
		}
	})

	t.Run("ReturnsTheStreamsEventsInOrderWithTheirVersions", func(t *testing.T) {
		f := f.sub(t)
		s, other := f.stream("mine"), f.stream("other")
		a := f.events(s, 0, 3)
		f.append(s, domain.NoStream, a)
		f.append(other, domain.NoStream, f.events(other, 0, 2))
		b := f.events(s, 3, 2)
		f.append(s, 2, b)
		want := concat(a, b)
		got := f.readStream(s)
		sameIDs(t, "stream", ids(got), dataIDs(want))
		for i, e := range got {
			if e.StreamID != s || e.StreamVersion != int64(i) || e.Type != want[i].Type {
				t.Fatalf("event %d: stream %q version %d type %q; want %q, %d, %q",
					i, e.StreamID, e.StreamVersion, e.Type, s, i, want[i].Type)
			}
			if !jsonEqual(e.Data, want[i].Data) {
				t.Fatalf("event %d data %s, want %s", i, e.Data, want[i].Data)
			}
			if e.RecordedAt.IsZero() {
				t.Fatalf("event %d has no recorded time", i)
			}
			if i > 0 && !got[i-1].Position.Less(e.Position) {
				t.Fatalf("event %d at %s does not follow %s in the log", i, e.Position, got[i-1].Position)
			}
		}
	})

	t.Run("DomainEventsRoundTrip", func(t *testing.T) {
		f := f.sub(t)
		s := f.stream("telemetry")
		m := domain.MeasurementRecorded{StationID: "st-1", MeasurementID: uuid.NewString(), Type: "pm25",
			Value: 12.5, MeasuredAt: time.Date(2024, 3, 31, 1, 30, 0, 123456000, time.UTC)}
		e, err := domain.NewEventData(m.MeasurementID, m)
		if err != nil {
			t.Fatal(err)
		}
		f.append(s, domain.AnyVersion, []domain.EventData{e})
		got := f.readStream(s)
		if len(got) != 1 {
			t.Fatalf("got %d events, want 1", len(got))
		}
		// The bytes, exactly as stored (RecordedEvent.Decode would upcast).
		dec, err := domain.DecodeEvent(got[0].Type, got[0].Data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		back, ok := dec.(domain.MeasurementRecorded)
		if !ok || !back.MeasuredAt.Equal(m.MeasuredAt) {
			t.Fatalf("decoded %#v, want %#v", dec, m)
		}
		back.MeasuredAt = m.MeasuredAt
		if back != m {
			t.Fatalf("decoded %#v, want %#v", back, m)
		}
	})
}

func testGlobalOrder(t *testing.T, newStore func(t *testing.T) Store) {
	f := newFixture(t, newStore)

	t.Run("ReadAfterStartReturnsEverythingAppendedInCommitOrder", func(t *testing.T) {
		f := f.sub(t)
		a, b, c := f.stream("a"), f.stream("b"), f.stream("c")
		var want []domain.EventData
		for i, s := range []string{a, b, a, c, b, a} {
			evs := f.events(s, i*2, 1+i%2)
			f.append(s, domain.AnyVersion, evs)
			want = append(want, evs...)
		}
		// A shared server may hold much more; read it all in big pages.
		sameIDs(t, "log from the start", ids(f.readAll(domain.Start, 5000, len(want))), dataIDs(want))
	})

	t.Run("ReadAfterACheckpointReturnsOnlyWhatFollows", func(t *testing.T) {
		f := f.sub(t)
		base := f.head()
		s := f.stream("cp")
		evs := f.events(s, 0, 5)
		for i := range evs {
			f.append(s, domain.AnyVersion, evs[i:i+1])
		}
		all := f.readAll(base, 100, 5)
		sameIDs(t, "after the 3rd event", ids(f.readAll(all[2].Position, 100, 2)), dataIDs(evs[3:]))
		sameIDs(t, "after the last event", ids(f.readAll(all[4].Position, 100, 0)), nil)
	})

	t.Run("ReadAfterTheHeadReturnsOnlyLaterEvents", func(t *testing.T) {
		f := f.sub(t)
		base := f.head()
		s := f.stream("head")
		f.append(s, domain.AnyVersion, f.events(s, 0, 3))
		f.readAll(base, 100, 3) // wait until readers see them
		head := f.head()
		later := f.events(s, 3, 2)
		f.append(s, domain.AnyVersion, later)
		sameIDs(t, "after the head", ids(f.readAll(head, 100, 2)), dataIDs(later))
	})

	t.Run("SmallPagesCoverEverythingExactlyOnce", func(t *testing.T) {
		f := f.sub(t)
		base := f.head()
		var want []domain.EventData
		streams := []string{f.stream("p1"), f.stream("p2"), f.stream("p3")}
		for i := range 9 {
			s := streams[i%3]
			evs := f.events(s, i*3, 1+i%4)
			f.append(s, domain.AnyVersion, evs)
			want = append(want, evs...)
		}
		for _, page := range []int{1, 2, 3, 7} {
			sameIDs(t, fmt.Sprintf("pages of %d", page), ids(f.readAll(base, page, len(want))), dataIDs(want))
		}
	})
}

// testConcurrency holds the ordering rule: a reader paging through the log
// while appends commit concurrently never skips an event, never sees one
// twice, and sees each stream's events in version order.
func testConcurrency(t *testing.T, newStore func(t *testing.T) Store) {
	f := newFixture(t, newStore)

	t.Run("AReaderDuringConcurrentAppendsSeesEveryEventOnceInOrder", func(t *testing.T) {
		f := f.sub(t)
		const writers, appends = 8, 50
		base := f.head()
		streams := make([]string, writers)
		total := 0
		for w := range streams {
			streams[w] = f.stream(fmt.Sprintf("w%d", w))
			for i := range appends {
				total += 1 + (w+i)%3
			}
		}

		batches := make([][][]domain.EventData, writers) // per writer, in order
		appended := make([][]string, writers)
		for w := range writers {
			seq := 0
			for i := range appends {
				evs := f.events(streams[w], seq, 1+(w+i)%3)
				seq += len(evs)
				batches[w] = append(batches[w], evs)
				appended[w] = append(appended[w], dataIDs(evs)...)
			}
		}
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, evs := range batches[w] {
					if _, err := f.s.Append(f.ctx, streams[w], domain.AnyVersion, evs); err != nil {
						errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
						return
					}
				}
			}()
		}

		r := f.reader(base, 25)
		next := make(map[string]int64) // next version expected per stream
		deadline := time.Now().Add(waitVisible + 10*time.Second)
		for len(r.own) < total && time.Now().Before(deadline) {
			before := len(r.own)
			got, err := r.step()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range r.own[before:] {
				if e.StreamVersion != next[e.StreamID] {
					t.Fatalf("%s: read version %d, want %d: an event was skipped or reordered",
						e.StreamID, e.StreamVersion, next[e.StreamID])
				}
				next[e.StreamID]++
			}
			if got == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(r.own) != total {
			t.Fatalf("the reader saw %d of %d events: the rest were skipped", len(r.own), total)
		}
		for w, s := range streams {
			sameIDs(t, s, ids(f.readStream(s)), appended[w])
		}
	})

	t.Run("ConcurrentAnyVersionAppendsToOneStreamAreAllStored", func(t *testing.T) {
		f := f.sub(t)
		const writers, appends = 4, 15
		s := f.stream("shared")
		batches := make([][]domain.EventData, writers*appends)
		for i := range batches {
			batches[i] = f.events(s, i*2, 2)
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, evs := range batches[w*appends : (w+1)*appends] {
					if _, err := f.s.Append(f.ctx, s, domain.AnyVersion, evs); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got := f.readStream(s)
		if len(got) != writers*appends*2 {
			t.Fatalf("stream has %d events, want %d", len(got), writers*appends*2)
		}
		for i, e := range got {
			if e.StreamVersion != int64(i) {
				t.Fatalf("event %d has version %d", i, e.StreamVersion)
			}
		}
	})

	t.Run("ConcurrentAppendsAtTheSameVersionHaveExactlyOneWinner", func(t *testing.T) {
		f := f.sub(t)
		const writers = 8
		s := f.stream("race")
		f.append(s, domain.NoStream, f.events(s, 0, 1))
		evs := f.events(s, 1, writers)
		var wg sync.WaitGroup
		results := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.s.Append(f.ctx, s, 0, evs[w:w+1])
				results <- err
			}()
		}
		wg.Wait()
		close(results)
		won := 0
		for err := range results {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, domain.ErrVersionConflict):
				t.Fatalf("got %v, want success or domain.ErrVersionConflict", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d appends at version 0 succeeded, want exactly 1", won)
		}
		if got := f.readStream(s); len(got) != 2 {
			t.Fatalf("stream has %d events, want 2", len(got))
		}
	})
}

func testResume(t *testing.T, newStore func(t *testing.T) Store) {
	f := newFixture(t, newStore)

	t.Run("AReaderResumingFromACheckpointSeesExactlyTheRest", func(t *testing.T) {
		f := f.sub(t)
		base := f.head()
		streams := []string{f.stream("r1"), f.stream("r2")}
		var want []domain.EventData
		appendSome := func(from, n int) {
			for i := from; i < from+n; i++ {
				s := streams[i%2]
				evs := f.events(s, i*4, 4)
				f.append(s, domain.AnyVersion, evs)
				want = append(want, evs...)
			}
		}
		appendSome(0, 10)

		first := f.reader(base, 6)
		first.until(15) // then it drops, at the end of a page
		checkpoint := first.pos

		appendSome(10, 3) // appended while no reader runs
		second := f.reader(checkpoint, 6)
		rest := len(want) - len(first.own)
		second.until(rest)
		second.drain(rest)
		sameIDs(t, "first reader then second", ids(append(first.own, second.own...)), dataIDs(want))
	})
}

func testLargeBatch(t *testing.T, newStore func(t *testing.T) Store) {
	f := newFixture(t, newStore)

	t.Run("AnAppendOf5000EventsIsReadBackCompleteAndInOrder", func(t *testing.T) {
		f := f.sub(t)
		const n = 5000
		base := f.head()
		s := f.stream("large")
		evs := f.events(s, 0, n)
		res := f.append(s, domain.NoStream, evs)
		if res.NextVersion != n-1 || len(res.Duplicates) != 0 {
			t.Fatalf("append: NextVersion %d, %d duplicates; want %d, none", res.NextVersion, len(res.Duplicates), n-1)
		}
		got := f.readStream(s)
		sameIDs(t, "stream", ids(got), dataIDs(evs))
		for i, e := range got {
			if e.StreamVersion != int64(i) {
				t.Fatalf("event %d has version %d", i, e.StreamVersion)
			}
		}
		sameIDs(t, "log", ids(f.readAll(base, 1000, n)), dataIDs(evs))
	})
}

// sub is the fixture for a subtest: same store and namespace, the
// subtest's own *testing.T.
func (f *fixture) sub(t *testing.T) *fixture {
	c := *f
	c.t = t
	return &c
}
