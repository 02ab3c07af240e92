package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/memstore"
)

var recordedAt = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func appendOne(t *testing.T, s *memstore.Store, stream, id string) {
	t.Helper()
	e := domain.EventData{ID: id, Type: "Test", Data: []byte(`{"n":1}`)}
	if _, err := s.Append(context.Background(), stream, domain.AnyVersion, []domain.EventData{e}); err != nil {
		t.Fatal(err)
	}
}

func TestMemStore_EventsCarryTheClocksTime(t *testing.T) {
	s := memstore.New(func() time.Time { return recordedAt.In(time.FixedZone("x", 3600)) })
	appendOne(t, s, "a", "id-1")
	evs, err := s.ReadStream(context.Background(), "a")
	if err != nil || len(evs) != 1 {
		t.Fatalf("ReadStream: %v, %v", evs, err)
	}
	if !evs[0].RecordedAt.Equal(recordedAt) || evs[0].RecordedAt.Location() != time.UTC {
		t.Fatalf("RecordedAt %v, want %v in UTC", evs[0].RecordedAt, recordedAt)
	}
}

func TestMemStore_CallersCannotChangeWhatIsStored(t *testing.T) {
	s := memstore.New(func() time.Time { return recordedAt })
	data := []byte(`{"n":1}`)
	if _, err := s.Append(context.Background(), "a", domain.AnyVersion, []domain.EventData{{ID: "id-1", Type: "Test", Data: data}}); err != nil {
		t.Fatal(err)
	}
	data[2] = 'X'
	evs, _ := s.ReadStream(context.Background(), "a")
	evs[0].Data[2] = 'Y'
	log, _ := s.ReadAfter(context.Background(), domain.Start, 10)
	log[0].Data[2] = 'Z'
	again, _ := s.ReadStream(context.Background(), "a")
	if string(again[0].Data) != `{"n":1}` {
		t.Fatalf("stored data became %s", again[0].Data)
	}
}

func TestMemStore_ACancelledCallIsRefusedAndStoresNothing(t *testing.T) {
	s := memstore.New(func() time.Time { return recordedAt })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Append(ctx, "a", domain.AnyVersion, []domain.EventData{{ID: "id-1", Type: "Test", Data: []byte(`{}`)}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Append: %v, want context.Canceled", err)
	}
	if _, err := s.ReadStream(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadStream: %v, want context.Canceled", err)
	}
	if head, err := s.Head(context.Background()); err != nil || head != domain.Start {
		t.Fatalf("Head after a cancelled append: %v, %v; want the start", head, err)
	}
}
