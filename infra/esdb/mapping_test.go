package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetpulse/fleetpulse/domain"
)

func TestExpectedRevision_MapsDomainVersionsToTheClients(t *testing.T) {
	cases := []struct {
		version int64
		want    esdb.ExpectedRevision
	}{
		{domain.AnyVersion, esdb.Any{}},
		{domain.NoStream, esdb.NoStream{}},
		{0, esdb.Revision(0)},
		{41, esdb.Revision(41)},
	}
	for _, tc := range cases {
		got, err := expectedRevision(tc.version)
		if err != nil || got != tc.want {
			t.Errorf("expectedRevision(%d) = %#v, %v; want %#v", tc.version, got, err, tc.want)
		}
	}
	if _, err := expectedRevision(-3); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("expectedRevision(-3) error %v, want domain.ErrInvalid", err)
	}
}

func TestRevisionAt_ANegativeVersionIsNoStream(t *testing.T) {
	if got := revisionAt(domain.NoStream); got != (esdb.NoStream{}) {
		t.Errorf("revisionAt(-1) = %#v", got)
	}
	if got := revisionAt(7); got != esdb.Revision(7) {
		t.Errorf("revisionAt(7) = %#v", got)
	}
}

func TestPositions_MapBothWaysAndStartReadsFromTheBeginning(t *testing.T) {
	if got := allPosition(domain.Start); got != (esdb.Start{}) {
		t.Errorf("allPosition(Start) = %#v, want esdb.Start", got)
	}
	p := domain.Position{Commit: 1234, Prepare: 1200}
	got := allPosition(p)
	if got != (esdb.Position{Commit: 1234, Prepare: 1200}) {
		t.Errorf("allPosition(%s) = %#v", p, got)
	}
	if back := fromPosition(got.(esdb.Position)); back != p {
		t.Errorf("fromPosition = %s, want %s", back, p)
	}
}

func TestIsSystemEvent_TypesStartingWithDollar(t *testing.T) {
	for typ, want := range map[string]bool{
		"$metadata": true, "$>": true, "$statsCollected": true, "$epoch-information": true,
		domain.TypeMeasurementRecorded: false, "": false, "a$b": false,
	} {
		if got := isSystemEvent(typ); got != want {
			t.Errorf("isSystemEvent(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestToEventData_RequiresAUUIDAndKeepsTheBytes(t *testing.T) {
	id := uuid.New()
	d, err := toEventData(domain.EventData{ID: id.String(), Type: "T", Data: []byte(`{"a":1}`)})
	if err != nil || d.EventID != id || d.EventType != "T" || string(d.Data) != `{"a":1}` || d.ContentType != esdb.ContentTypeJson {
		t.Fatalf("toEventData = %+v, %v", d, err)
	}
	if _, err := toEventData(domain.EventData{ID: "m-1", Type: "T"}); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("non-UUID id: error %v, want domain.ErrInvalid", err)
	}
}

func TestFromRecorded_CopiesTheRecord(t *testing.T) {
	id := uuid.New()
	r := fromRecorded(&esdb.RecordedEvent{EventID: id, EventType: "T", StreamID: "s", EventNumber: 3,
		Position: esdb.Position{Commit: 9, Prepare: 8}, Data: []byte("{}")})
	want := domain.RecordedEvent{ID: id.String(), StreamID: "s", StreamVersion: 3, Type: "T", Data: []byte("{}"),
		Position: domain.Position{Commit: 9, Prepare: 8}}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("fromRecorded = %+v, want %+v", r, want)
	}
}

func TestUnavailableCode_RetryableCodesOnly(t *testing.T) {
	for code, want := range map[esdb.ErrorCode]bool{
		esdb.ErrorUnavailable:              true,
		esdb.ErrorCodeConnectionClosed:     true,
		esdb.ErrorCodeDeadlineExceeded:     true,
		esdb.ErrorCodeNotLeader:            true,
		esdb.ErrorAborted:                  true,
		esdb.ErrorCodeWrongExpectedVersion: false,
		esdb.ErrorCodeResourceNotFound:     false,
		esdb.ErrorCodeAccessDenied:         false,
		esdb.ErrorCodeUnknown:              false,
	} {
		if got := unavailableCode(code); got != want {
			t.Errorf("unavailableCode(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "connection refused")
	// esdb.Error's fields are unexported; FromError wraps any error as
	// ErrorCodeUnknown, as the client does with gRPC statuses it does not map.
	wrappedUnavailable, _ := esdb.FromError(unavailable)
	brokenStream, _ := esdb.FromError(io.EOF)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	cases := []struct {
		name string
		ctx  context.Context
		err  error
		is   error
	}{
		{"AnUnavailableStatusIsErrUnavailable", context.Background(), unavailable, domain.ErrUnavailable},
		{"AWrappedUnavailableStatusIsErrUnavailable", context.Background(), fmt.Errorf("append: %w", wrappedUnavailable), domain.ErrUnavailable},
		{"ADeadlineStatusIsErrUnavailable", context.Background(), status.Error(codes.DeadlineExceeded, "slow"), domain.ErrUnavailable},
		{"ADomainConflictStaysAConflict", context.Background(), fmt.Errorf("x: %w", domain.ErrVersionConflict), domain.ErrVersionConflict},
		{"TheCallersCancellationIsContextCanceled", cancelled, status.Error(codes.Canceled, "cancelled"), context.Canceled},
		// As the client reports an append whose stream broke before its
		// header was sent (the server went away between two calls).
		{"AStreamThatEndedIsErrUnavailable", context.Background(), fmt.Errorf("could not send append request header. Reason: %w", brokenStream), domain.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.ctx, tc.err); !errors.Is(got, tc.is) {
				t.Fatalf("classify(%v) = %v, want it to wrap %v", tc.err, got, tc.is)
			}
		})
	}
	t.Run("OtherErrorsAreNotUnavailable", func(t *testing.T) {
		for _, err := range []error{errors.New("boom"), status.Error(codes.InvalidArgument, "bad")} {
			if got := classify(context.Background(), err); errors.Is(got, domain.ErrUnavailable) || errors.Is(got, domain.ErrVersionConflict) {
				t.Errorf("classify(%v) = %v", err, got)
			}
		}
	})
	t.Run("NilIsNil", func(t *testing.T) {
		if classify(context.Background(), nil) != nil {
			t.Fatal("classify(nil) != nil")
		}
	})
}

func TestBrokenClient_UnavailableConnectionsAreReplaced(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "down")
	wrapped, _ := esdb.FromError(unavailable)
	eof, _ := esdb.FromError(io.EOF)
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{unavailable, true},
		{fmt.Errorf("read: %w", wrapped), true},
		{fmt.Errorf("append: %w", eof), true},
		{status.Error(codes.NotFound, "x"), false},
		{errors.New("boom"), false},
	} {
		if got := brokenClient(tc.err); got != tc.want {
			t.Errorf("brokenClient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestFirstOccurrences_MarksRepeatsWithinTheBatch(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	batch := []esdb.EventData{{EventID: a}, {EventID: b}, {EventID: a}, {EventID: a}}
	dup := make([]bool, len(batch))
	unique := firstOccurrences(batch, dup)
	if fmt.Sprint(unique) != "[0 1]" || fmt.Sprint(dup) != "[false false true true]" {
		t.Fatalf("unique %v dup %v", unique, dup)
	}
}

func TestChunkLen_KeepsAppendsUnderTheMaximumSize(t *testing.T) {
	big := make([]byte, maxAppendBytes/3)
	batch := []esdb.EventData{{Data: big}, {Data: big}, {Data: big}, {Data: []byte("{}")}}
	pending := []int{0, 1, 2, 3}
	if n := chunkLen(batch, pending); n != 2 {
		t.Fatalf("chunkLen = %d, want 2", n)
	}
	if n := chunkLen(batch, pending[2:]); n != 2 {
		t.Fatalf("chunkLen of the rest = %d, want 2", n)
	}
	huge := []esdb.EventData{{Data: make([]byte, 2*maxAppendBytes)}}
	if n := chunkLen(huge, []int{0}); n != 1 {
		t.Fatalf("an oversized event alone: chunkLen = %d, want 1", n)
	}
}
