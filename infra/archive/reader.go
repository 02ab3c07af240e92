package archive

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Reader serves archived events to the event store (it is an
// eventstore.Archive). It keeps the file it read last decoded in memory:
// a rebuild reads files one after the other, batch by batch.
type Reader struct {
	bucket Bucket

	mu         sync.Mutex
	cachedFile string
	cached     []domain.RecordedEvent
}

// NewReader returns a reader of the files in bucket.
func NewReader(bucket Bucket) *Reader { return &Reader{bucket: bucket} }

// Read returns up to max archived events that follow after, in log order,
// from the files of ranges (in log order, not overlapping).
func (r *Reader) Read(ctx context.Context, ranges []domain.ArchivedRange, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	i := sort.Search(len(ranges), func(i int) bool { return after.Less(ranges[i].Last) })
	var out []domain.RecordedEvent
	for ; i < len(ranges) && len(out) < max; i++ {
		events, err := r.file(ctx, ranges[i])
		if err != nil {
			return nil, err
		}
		j := sort.Search(len(events), func(j int) bool { return after.Less(events[j].Position) })
		n := min(len(events)-j, max-len(out))
		out = append(out, events[j:j+n]...)
	}
	return out, nil
}

// file returns the events of rng's file, verified against its checksum.
func (r *Reader) file(ctx context.Context, rng domain.ArchivedRange) ([]domain.RecordedEvent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cachedFile == rng.File {
		return r.cached, nil
	}
	events, err := readVerified(ctx, r.bucket, rng)
	if err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	if int64(len(events)) != rng.Events {
		return nil, fmt.Errorf("read archive: %s holds %d events, the log recorded %d: %w", rng.File, len(events), rng.Events, ErrCorrupt)
	}
	r.cachedFile, r.cached = rng.File, events
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
