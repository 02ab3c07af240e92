package archive

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/fleetpulse/fleetpulse/domain"
)

// A run is a pipeline, so that it keeps more than one core busy:
//
//	fetch (1 goroutine)  reads pages of candidates from the log, in log
//	                     order, each after the last one read;
//	decode (workers)     turns a page's events into rows;
//	cut (1 goroutine)    takes decoded pages in log order and cuts them
//	                     into files: one UTC day of recording, MaxItems
//	                     rows, maxFileEvents events, maxFileBytes at most;
//	write (workers)      sorts, encodes, writes and verifies a file and
//	                     writes its manifest;
//	commit (the caller)  commits the files strictly in log order.
//
// Decode and write share Config.Workers tokens, which bound the CPU a run
// takes. Each file still goes through write before its commit, and files
// are committed in log order and contiguous, so crash safety is the one
// of a run that does one file after the other: a file written but not
// committed is only an unread object, a later file is never committed
// before an earlier one.

// page is one read of candidates from the log, decoded by a worker.
type page struct {
	events []domain.RecordedEvent // dropped once decoded
	metas  []eventMeta
	rows   []row // the events' rows, event after event
	err    error
	done   chan struct{}
}

// eventMeta is what cutting and committing need of an event.
type eventMeta struct {
	pos        domain.Position
	recordedAt time.Time
	rows       int // its rows in page.rows
	bytes      int // its data's size in the log
}

// decode turns p's events into rows.
func (p *page) decode() {
	defer close(p.done)
	decoded := make([]domain.Event, len(p.events))
	n := 0
	for i, r := range p.events {
		e, err := domain.DecodeEvent(r.Type, r.Data)
		if err != nil {
			p.err = fmt.Errorf("archive event %s: %w", r.ID, err)
			return
		}
		decoded[i] = domain.Upcast(e)
		n += itemCount(decoded[i])
	}
	p.rows = make([]row, 0, n)
	p.metas = make([]eventMeta, len(p.events))
	for i, r := range p.events {
		before := len(p.rows)
		var err error
		if p.rows, err = appendRows(p.rows, r, decoded[i]); err != nil {
			p.err = err
			return
		}
		p.metas[i] = eventMeta{pos: r.Position, recordedAt: r.RecordedAt, rows: len(p.rows) - before, bytes: len(r.Data)}
	}
	p.events = nil
}

// fileJob is one file: cut from decoded pages, then written by a worker,
// then committed.
type fileJob struct {
	segs      [][]row // rows of its events, page by page
	positions []int64 // its events' log positions, for the commit
	sum       fileSummary
	bytes     int

	rng  domain.ArchivedRange // set by write
	err  error
	done chan struct{}
}

// fits says whether e may join f.
func (f *fileJob) fits(e eventMeta, maxItems int) bool {
	return dayOf(e.recordedAt).Equal(dayOf(f.sum.RecordedFrom)) && f.sum.Items+int64(e.rows) <= int64(maxItems) &&
		f.sum.Events < maxFileEvents && f.bytes+e.bytes <= maxFileBytes
}

// add puts e, whose rows are rows, in f.
func (f *fileJob) add(e eventMeta, rows []row) {
	if f.sum.Events == 0 {
		f.sum.First, f.sum.RecordedFrom, f.sum.RecordedUntil = e.pos, e.recordedAt, e.recordedAt
	}
	f.sum.Last = e.pos
	f.sum.RecordedFrom = minTime(f.sum.RecordedFrom, e.recordedAt)
	f.sum.RecordedUntil = maxTime(f.sum.RecordedUntil, e.recordedAt)
	f.sum.Events++
	f.sum.Items += int64(len(rows))
	f.bytes += e.bytes
	f.positions = append(f.positions, int64(e.pos.Prepare))
	f.segs = append(f.segs, rows)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sortedRows returns f's rows in file order, in one slice, and lets go of
// the pages'.
func (f *fileJob) sortedRows() []row {
	rows := sortSegments(f.segs, int(f.sum.Items))
	f.segs = nil
	return rows
}

// nextPageSize is the number of events to read next after page: about
// pageBytes of event data, so that a run's first pages already give every
// worker one to decode (a page of 1,000 vehicle batches is 28 MB of JSON,
// as much as a file holds).
func nextPageSize(page []domain.RecordedEvent) int {
	bytes := 0
	for _, e := range page {
		bytes += len(e.Data)
	}
	return max(minPage, min(candidatePage, len(page)*pageBytes/max(bytes, 1)))
}

// Bounds of a page read from the log: pageBytes of event data, minPage
// to candidatePage events, firstPage events to begin with.
const (
	pageBytes     = 2 << 20
	minPage       = 20
	firstPage     = 100
	candidatePage = 1000
)

// pipeline runs the stages above and calls commit with each written file,
// in log order, from the caller's goroutine. It returns the first error
// of any stage, after every goroutine it started has ended.
func (a *Archiver) pipeline(parent context.Context, commit func(*fileJob) error) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	fail := func(err error) { cancel(err) }
	tokens := make(chan struct{}, a.cfg.Workers)
	work := func(fn func()) bool {
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		defer func() { <-tokens }()
		fn()
		return true
	}
	var wg sync.WaitGroup

	// fetch → decode, and fetch → cut in log order.
	toDecode := make(chan *page, a.cfg.Workers)
	pages := make(chan *page, a.cfg.Workers+1)
	wg.Go(func() {
		defer close(toDecode)
		defer close(pages)
		after, size := domain.Start, firstPage
		for ctx.Err() == nil {
			upTo, err := a.lowest(ctx)
			if err != nil {
				fail(fmt.Errorf("archive: lowest checkpoint: %w", err))
				return
			}
			horizon := a.cfg.Clock().Add(-a.cfg.Horizon)
			events, err := a.log.ArchiveCandidates(ctx, horizon, upTo, after, min(size, a.cfg.MaxItems))
			if err != nil {
				fail(fmt.Errorf("archive: %w", err))
				return
			}
			if len(events) == 0 {
				return
			}
			size = nextPageSize(events)
			after = events[len(events)-1].Position
			p := &page{events: events, done: make(chan struct{})}
			for _, ch := range []chan *page{pages, toDecode} {
				select {
				case ch <- p:
				case <-ctx.Done():
					return
				}
			}
		}
	})
	for range a.cfg.Workers {
		wg.Go(func() {
			for p := range toDecode {
				if !work(p.decode) {
					return
				}
			}
		})
	}

	// cut → write, and cut → commit in log order.
	limiter := newLimiter(a.cfg.Rate)
	toWrite := make(chan *fileJob)
	files := make(chan *fileJob, a.cfg.Workers)
	wg.Go(func() {
		defer close(toWrite)
		defer close(files)
		var cur *fileJob
		emit := func() bool {
			for _, ch := range []chan *fileJob{files, toWrite} {
				select {
				case ch <- cur:
				case <-ctx.Done():
					return false
				}
			}
			cur = nil
			return true
		}
		for p := range pages {
			select {
			case <-p.done:
			case <-ctx.Done():
				return
			}
			if p.err != nil {
				fail(p.err)
				return
			}
			// Paced here, before the page is cut: fetching and decoding
			// wait for the cutter through the channels, writing for the
			// files it cuts, so the whole run goes at the pace.
			if err := pace(ctx, limiter, len(p.rows)); err != nil {
				// ctx's end, or its deadline too near to wait for.
				fail(fmt.Errorf("archive: %w", err))
				return
			}
			off := 0
			for _, e := range p.metas {
				if cur != nil && !cur.fits(e, a.cfg.MaxItems) && !emit() {
					return
				}
				if cur == nil {
					cur = &fileJob{done: make(chan struct{})}
				}
				cur.add(e, p.rows[off:off+e.rows:off+e.rows])
				off += e.rows
			}
		}
		if cur != nil && ctx.Err() == nil {
			emit()
		}
	})
	for range a.cfg.Workers {
		wg.Go(func() {
			for f := range toWrite {
				if !work(func() { f.err = a.write(ctx, f, spreader(tokens)); close(f.done) }) {
					return
				}
			}
		})
	}

	var err error
	for f := range files {
		select {
		case <-f.done:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if f.err != nil {
			err = f.err
			break
		}
		if err = commit(f); err != nil {
			break
		}
	}
	if err != nil {
		fail(err)
	}
	// Unblock the stages (they all watch ctx) and wait for them.
	cancel(nil)
	for range files {
	}
	wg.Wait()
	if err == nil {
		// A stage's failure, or the parent's end; not the cancel above.
		if c := context.Cause(ctx); c != nil && c != context.Canceled {
			err = c
		}
	}
	return err
}

// newLimiter returns the limiter that paces a run to perSecond rows, nil
// for no pace. Its burst is a tenth of a second's rows, so a run's CPU
// is spread evenly over each second rather than taken in bursts.
func newLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/10)))
}

// pace waits until l lets n rows through (at once for a nil l). A page
// holds more rows than the burst; it waits for them burst by burst.
func pace(ctx context.Context, l *rate.Limiter, n int) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		k := min(n, l.Burst())
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
