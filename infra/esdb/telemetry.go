package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

// itemMetadata is the user metadata of a telemetry batch event: the keys of
// its items (domain.TelemetryItemKey), which the duplicate check reads from
// a stream's tail next to event ids. An item of the first log format is an
// event whose id is its key, so both formats are found the same way.
type itemMetadata struct {
	ItemKeys []uuid.UUID `json:"item_keys"`
}

// AppendTelemetry stores a device's batch of telemetry items as one event
// of the items not among the stream's latest (see commands.EventStore, and
// the package doc for what duplicate detection covers).
func (s *Store) AppendTelemetry(ctx context.Context, stream, eventID string, batch domain.TelemetryBatch) (domain.AppendResult, error) {
	ids := batch.ItemIDs()
	if len(ids) == 0 {
		return domain.AppendResult{}, fmt.Errorf("append to %s: no items: %w", stream, domain.ErrInvalid)
	}
	id, err := uuid.Parse(eventID)
	if err != nil {
		return domain.AppendResult{}, fmt.Errorf("event id %q is not a UUID: %w", eventID, domain.ErrInvalid)
	}
	keys := make([]uuid.UUID, len(ids))
	for i, k := range domain.TelemetryItemKeys(batch) {
		keys[i] = uuid.MustParse(k) // TelemetryItemKey always makes a UUID
	}
	dup := make([]bool, len(ids))
	pending := make([]int, 0, len(ids))
	seenInBatch := make(map[uuid.UUID]bool, len(keys))
	for i, k := range keys {
		if seenInBatch[k] {
			dup[i] = true
			continue
		}
		seenInBatch[k] = true
		pending = append(pending, i)
	}

	var next int64
	err = s.conn.do(ctx, func(c *esdb.Client) error {
		var err error
		next, err = s.appendItems(ctx, c, stream, id, batch, keys, pending, dup)
		return err
	})
	if err != nil {
		return domain.AppendResult{}, classify(ctx, fmt.Errorf("append to %s: %w", stream, err))
	}
	res := domain.AppendResult{NextVersion: next}
	for i, d := range dup {
		if d {
			res.Duplicates = append(res.Duplicates, ids[i])
		}
	}
	return res, nil
}

// appendItems writes one event of the items at pending whose keys the
// stream's tail does not hold, marks the others in dup, and returns the
// stream's version after the append. As Append does, it writes at the exact
// revision its check saw, and checks again when another writer got in.
func (s *Store) appendItems(ctx context.Context, c *esdb.Client, stream string, id uuid.UUID, batch domain.TelemetryBatch,
	keys []uuid.UUID, pending []int, dup []bool) (int64, error) {
	refresh := false
	for attempt := 1; ; attempt++ {
		version, seen, fresh, err := s.streamState(ctx, c, stream, keysAt(keys, pending), refresh)
		if err != nil {
			return 0, err
		}
		var keep []int
		for k, i := range pending {
			if !seen[k] {
				keep = append(keep, i)
			}
		}
		if len(keep) == 0 {
			if !fresh {
				refresh = true // remembered ids prove nothing until checked
				continue
			}
			for _, i := range pending {
				dup[i] = true
			}
			return version, nil
		}
		ev, err := batchEvent(id, batch, keys, keep, len(keep) < len(keys))
		if err != nil {
			return 0, err
		}
		var rev esdb.ExpectedRevision = revisionAt(version)
		unchecked := attempt > appendAttempts
		if unchecked {
			rev = esdb.Any{}
		}
		wr, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: rev}, ev)
		if err != nil {
			s.recent.forget(stream) // the append may or may not have happened
			if isWrongExpectedVersion(err) {
				refresh = true
				continue
			}
			return 0, err
		}
		next := int64(wr.NextExpectedVersion)
		if unchecked {
			s.recent.forget(stream)
		} else {
			s.recent.appended(stream, version, next, keysAt(keys, keep))
		}
		kept := make(map[int]bool, len(keep))
		for _, i := range keep {
			kept[i] = true
		}
		for _, i := range pending {
			dup[i] = !kept[i]
		}
		return next, nil
	}
}

// batchEvent is the event of the items at keep (all of the batch unless
// partial), with their keys in its metadata.
func batchEvent(id uuid.UUID, batch domain.TelemetryBatch, keys []uuid.UUID, keep []int, partial bool) (esdb.EventData, error) {
	if partial {
		batch = batch.Select(keep)
	}
	data, err := json.Marshal(batch)
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("encode %s: %w", batch.EventType(), err)
	}
	meta, err := json.Marshal(itemMetadata{ItemKeys: keysAt(keys, keep)})
	if err != nil {
		return esdb.EventData{}, err
	}
	return esdb.EventData{EventID: id, EventType: batch.EventType(), ContentType: esdb.ContentTypeJson, Data: data, Metadata: meta}, nil
}

func keysAt(keys []uuid.UUID, at []int) []uuid.UUID {
	out := make([]uuid.UUID, len(at))
	for k, i := range at {
		out[k] = keys[i]
	}
	return out
}

// itemKeysOf returns the item keys an event's metadata lists, if any.
func itemKeysOf(r *esdb.RecordedEvent) []uuid.UUID {
	if len(r.UserMetadata) == 0 {
		return nil
	}
	var m itemMetadata
	if json.Unmarshal(r.UserMetadata, &m) != nil {
		return nil
	}
	return m.ItemKeys
}

// FindTelemetryItem returns the event holding a device's telemetry item (see
// commands.ItemFinder): it reads the device's stream, newest first.
func (s *Store) FindTelemetryItem(ctx context.Context, stream, itemID, key string) (domain.RecordedEvent, bool, error) {
	want, err := uuid.Parse(key)
	if err != nil {
		return domain.RecordedEvent{}, false, fmt.Errorf("item key %q is not a UUID: %w", key, domain.ErrInvalid)
	}
	var (
		found domain.RecordedEvent
		ok    bool
	)
	err = s.conn.do(ctx, func(c *esdb.Client) error {
		rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, ^uint64(0))
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) || isNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			r := ev.OriginalEvent()
			hit := r.EventID == want
			for _, k := range itemKeysOf(r) {
				hit = hit || k == want
			}
			if hit {
				found, ok = fromRecorded(r), true
				return nil
			}
		}
	})
	if err != nil {
		return domain.RecordedEvent{}, false, classify(ctx, fmt.Errorf("find item %s in %s: %w", itemID, stream, err))
	}
	return found, ok, nil
}
