package archive

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Reader serves archived events to the event store (it is an
// eventstore.Archive). It keeps the file it read last decoded in memory,
// and reads the file after it meanwhile: a rebuild reads files one after
// the other, batch by batch, and then finds the next one decoded (or
// being decoded) rather than waiting for all of it.
type Reader struct {
	bucket Bucket

	mu         sync.Mutex
	cachedFile string
	cached     []domain.RecordedEvent
	next       *fileAhead
}

// fileAhead is a file being read while the one before it is served.
type fileAhead struct {
	file   string
	events []domain.RecordedEvent
	err    error
	done   chan struct{}
}

// NewReader returns a reader of the files in bucket.
func NewReader(bucket Bucket) *Reader { return &Reader{bucket: bucket} }

// Read returns up to max archived events that follow after, in log order,
// from the files of ranges (in log order, not overlapping).
func (r *Reader) Read(ctx context.Context, ranges []domain.ArchivedRange, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	i := sort.Search(len(ranges), func(i int) bool { return after.Less(ranges[i].Last) })
	var out []domain.RecordedEvent
	for ; i < len(ranges) && len(out) < max; i++ {
		events, err := r.file(ctx, ranges, i)
		if err != nil {
			return nil, err
		}
		j := sort.Search(len(events), func(j int) bool { return after.Less(events[j].Position) })
		n := min(len(events)-j, max-len(out))
		out = append(out, events[j:j+n]...)
	}
	return out, nil
}

// file returns the events of ranges[i]'s file, verified against its
// checksum, and starts reading the file after it.
func (r *Reader) file(ctx context.Context, ranges []domain.ArchivedRange, i int) ([]domain.RecordedEvent, error) {
	rng := ranges[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cachedFile == rng.File {
		return r.cached, nil
	}
	var events []domain.RecordedEvent
	if a := r.next; a != nil && a.file == rng.File {
		r.next = nil
		select {
		case <-a.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("read archive: %w", ctx.Err())
		}
		// A failed read ahead is read again below, which reports its own
		// error (the first may have been the end of another caller's ctx).
		if a.err == nil {
			events = a.events
		}
	}
	if events == nil {
		var err error
		if events, err = readEvents(ctx, r.bucket, rng); err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
	}
	r.cachedFile, r.cached = rng.File, events
	if i+1 < len(ranges) && (r.next == nil || r.next.file != ranges[i+1].File) {
		a := &fileAhead{file: ranges[i+1].File, done: make(chan struct{})}
		r.next = a
		// It ends with ctx (a rebuild's), or by itself one file on.
		go func() {
			defer close(a.done)
			a.events, a.err = readEvents(ctx, r.bucket, ranges[i+1])
		}()
	}
	return events, nil
}

// readEvents reads rng's file's events, verified against its checksum
// and its event count in the log.
func readEvents(ctx context.Context, b Bucket, rng domain.ArchivedRange) ([]domain.RecordedEvent, error) {
	events, err := readVerified(ctx, b, rng)
	if err != nil {
		return nil, err
	}
	if int64(len(events)) != rng.Events {
		return nil, fmt.Errorf("%s holds %d events, the log recorded %d: %w", rng.File, len(events), rng.Events, ErrCorrupt)
	}
	return events, nil
}

// FindTelemetryItem returns the archived event of stream holding item
// itemID, searching the newest files first. It reads files (their rows
// only, leaving the reader's decoded file in place) until it finds the
// item: corrections of archived measurements are rare, and a file is read
// in well under a second.
func (r *Reader) FindTelemetryItem(ctx context.Context, ranges []domain.ArchivedRange, stream, itemID string) (domain.RecordedEvent, bool, error) {
	for i := len(ranges) - 1; i >= 0; i-- {
		rows, err := readRows(ctx, r.bucket, ranges[i])
		if err != nil {
			return domain.RecordedEvent{}, false, fmt.Errorf("find item %s in the archive: %w", itemID, err)
		}
		for _, it := range rows {
			if it.StreamID != stream || it.ItemID != itemID {
				continue
			}
			var items []row
			for _, o := range rows {
				if o.LogCommit == it.LogCommit && o.LogPosition == it.LogPosition {
					items = append(items, o)
				}
			}
			events, err := eventsOf(items)
			if err != nil {
				return domain.RecordedEvent{}, false, fmt.Errorf("%s: %w", ranges[i].File, err)
			}
			return events[0], true, nil
		}
	}
	return domain.RecordedEvent{}, false, nil
}
