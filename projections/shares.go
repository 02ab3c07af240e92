package projections

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Share is the part of the fleet one projector of a partitioned projection
// owns: the devices whose id hashes to Index modulo Count. The hash is the
// 32-bit FNV-1a of the device id's UTF-8 bytes, so it is the same in every
// process, version and machine. Every event belongs to the device whose
// stream it is in (device-, telemetry- and alerts- streams); an event of any
// other stream belongs to share 0. The zero Share (Count 0) and Count 1 own
// every device: the projection is not partitioned.
type Share struct {
	Index, Count int
}

// MaxShares bounds a projection's share count: each share reads the whole
// log, so more shares than this only repeat the reading.
const MaxShares = 256

// ShareOf is the share, of count, that owns deviceID.
func ShareOf(deviceID string, count int) int {
	if count <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(deviceID)) // a hash's Write never fails
	return int(h.Sum32() % uint32(count))
}

// Partitioned says whether the projection runs as more than one share.
func (s Share) Partitioned() bool { return s.Count > 1 }

// Shares is how many shares the projection runs as (at least 1).
func (s Share) Shares() int { return max(s.Count, 1) }

// Owns says whether the share projects event r.
func (s Share) Owns(r domain.RecordedEvent) bool {
	if !s.Partitioned() {
		return true
	}
	id, ok := domain.DeviceOfStream(r.StreamID)
	if !ok {
		return s.Index == 0
	}
	return ShareOf(id, s.Count) == s.Index
}

// OwnsDevice says whether the share projects deviceID's events.
func (s Share) OwnsDevice(deviceID string) bool {
	return !s.Partitioned() || ShareOf(deviceID, s.Count) == s.Index
}

// Validate checks the share is one of its count.
func (s Share) Validate() error {
	if s.Count < 0 || s.Count > MaxShares || s.Index < 0 || s.Index >= s.Shares() {
		return fmt.Errorf("share %d of %d: want 0 <= share < shares <= %d", s.Index, s.Count, MaxShares)
	}
	return nil
}

// CheckpointName is the checkpoint of this share of projection: the
// projection's own name when it is not partitioned, else
// "<projection>/share-<index>-of-<count>".
func (s Share) CheckpointName(projection string) string {
	if !s.Partitioned() {
		return projection
	}
	return fmt.Sprintf("%s/share-%d-of-%d", projection, s.Index, s.Count)
}

func (s Share) String() string { return fmt.Sprintf("share %d of %d", s.Index, s.Shares()) }

// ShareSeparator joins a projection's name and its share in a checkpoint's name.
const ShareSeparator = "/share-"

// ProjectionOfCheckpoint returns the projection a checkpoint name belongs
// to, and whether the name is one share's.
func ProjectionOfCheckpoint(checkpoint string) (string, bool) {
	base, _, partitioned := strings.Cut(checkpoint, ShareSeparator)
	return base, partitioned
}

// ShareOfCheckpoint returns the projection and the share a checkpoint name
// (Share.CheckpointName) stands for: the zero Share for a projection's own
// name; ok is false for a name that says share but no valid one.
func ShareOfCheckpoint(checkpoint string) (projection string, share Share, ok bool) {
	base, rest, partitioned := strings.Cut(checkpoint, ShareSeparator)
	if !partitioned {
		return base, Share{}, true
	}
	var index, count int
	if n, err := fmt.Sscanf(rest, "%d-of-%d", &index, &count); err != nil || n != 2 {
		return base, Share{}, false
	}
	share = Share{Index: index, Count: count}
	if share.Validate() != nil || !share.Partitioned() || share.CheckpointName(base) != checkpoint {
		return base, Share{}, false
	}
	return base, share, true
}

// ErrShareCountChanged means the projection's stored share count is not the
// one this projector was started with: its checkpoints belong to another
// partitioning. Changing the count is a rebuild (fleetpulse rebuild -shares N).
var ErrShareCountChanged = errors.New("projection share count changed")
