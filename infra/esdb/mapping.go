package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetpulse/fleetpulse/domain"
)

// expectedRevision maps a domain expected version to the client's.
func expectedRevision(version int64) (esdb.ExpectedRevision, error) {
	switch {
	case version == domain.AnyVersion:
		return esdb.Any{}, nil
	case version == domain.NoStream:
		return esdb.NoStream{}, nil
	case version >= 0:
		return esdb.Revision(uint64(version)), nil
	}
	return nil, fmt.Errorf("expected version %d: %w", version, domain.ErrInvalid)
}

// allPosition maps a log position to where a $all read starts. Start is
// the beginning; any other position is an event's own position, which a
// forward read returns again first (callers skip it).
func allPosition(p domain.Position) esdb.AllPosition {
	if p == domain.Start {
		return esdb.Start{}
	}
	return esdb.Position{Commit: p.Commit, Prepare: p.Prepare}
}

func fromPosition(p esdb.Position) domain.Position {
	return domain.Position{Commit: p.Commit, Prepare: p.Prepare}
}

// isSystemEvent reports whether an event type is EventStoreDB's own
// (stream metadata, links, statistics...): never part of the domain log.
func isSystemEvent(eventType string) bool { return strings.HasPrefix(eventType, "$") }

func toEventData(e domain.EventData) (esdb.EventData, error) {
	id, err := uuid.Parse(e.ID)
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("event id %q is not a UUID: %w", e.ID, domain.ErrInvalid)
	}
	return esdb.EventData{EventID: id, EventType: e.Type, ContentType: esdb.ContentTypeJson, Data: e.Data}, nil
}

func fromRecorded(r *esdb.RecordedEvent) domain.RecordedEvent {
	return domain.RecordedEvent{
		ID:            r.EventID.String(),
		StreamID:      r.StreamID,
		StreamVersion: int64(r.EventNumber),
		Type:          r.EventType,
		Data:          r.Data,
		Position:      fromPosition(r.Position),
		RecordedAt:    r.CreatedDate,
	}
}

// errorCode returns the client error code err carries, if any.
func errorCode(err error) (esdb.ErrorCode, bool) {
	var esErr *esdb.Error
	if errors.As(err, &esErr) {
		return esErr.Code(), true
	}
	return 0, false
}

func isWrongExpectedVersion(err error) bool {
	code, ok := errorCode(err)
	return ok && code == esdb.ErrorCodeWrongExpectedVersion
}

func isNotFound(err error) bool {
	code, ok := errorCode(err)
	return ok && code == esdb.ErrorCodeResourceNotFound
}

// unavailableCode reports whether a client error code means "the server
// cannot be reached or cannot serve right now": worth a retry later.
func unavailableCode(code esdb.ErrorCode) bool {
	switch code {
	case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeDeadlineExceeded,
		esdb.ErrorCodeNotLeader, esdb.ErrorAborted:
		return true
	}
	return false
}

// unavailableStatus is the same for raw gRPC errors, which some client
// calls (the start of a read) return without wrapping them.
func unavailableStatus(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

// streamBroken reports whether a call's gRPC stream ended before the request
// was sent or answered: SendMsg then returns io.EOF (the real status is only
// seen on a receive), and the client passes it on as ErrorCodeUnknown. Seen
// when the server goes away between calls.
func streamBroken(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// classify maps client errors to domain errors: a failed revision check is
// domain.ErrVersionConflict, an unreachable server domain.ErrUnavailable
// (503, not 500). Cancellation by the caller stays what it is.
func classify(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, domain.ErrVersionConflict) || errors.Is(err, domain.ErrInvalid) ||
		errors.Is(err, domain.ErrUnavailable) {
		return err
	}
	if isWrongExpectedVersion(err) {
		return fmt.Errorf("%w: %w", domain.ErrVersionConflict, err)
	}
	if ctx.Err() != nil {
		// gRPC reports the caller's own cancellation as a status; give the
		// caller back its context error.
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if code, ok := errorCode(err); ok {
		switch {
		case unavailableCode(code):
			return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
		case code != esdb.ErrorCodeUnknown:
			return err
		}
		// Unknown: the client wraps any gRPC status it did not map; look
		// at the status below.
	}
	if unavailableStatus(err) || streamBroken(err) {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return err
}

// brokenClient reports whether err means the client itself should be
// replaced: closed for good, or its connection unavailable (the client
// would otherwise rediscover inside the next call, and a failed
// rediscovery closes it for good too).
func brokenClient(err error) bool {
	if err == nil {
		return false
	}
	if code, ok := errorCode(err); ok && (code == esdb.ErrorCodeConnectionClosed || code == esdb.ErrorUnavailable) {
		return true
	}
	return status.Code(err) == codes.Unavailable || streamBroken(err)
}
