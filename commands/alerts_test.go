package commands

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// memStore is the smallest EventStore: streams in memory, ids stored once.
type memStore struct {
	streams map[string][]domain.RecordedEvent
	ids     map[string]bool
}

func newMemStore() *memStore {
	return &memStore{streams: map[string][]domain.RecordedEvent{}, ids: map[string]bool{}}
}

func (m *memStore) Append(_ context.Context, stream string, expected int64, events []domain.EventData) (domain.AppendResult, error) {
	cur := int64(len(m.streams[stream])) - 1
	if expected != domain.AnyVersion && expected != cur {
		return domain.AppendResult{}, domain.ErrVersionConflict
	}
	var res domain.AppendResult
	for _, e := range events {
		if m.ids[e.ID] {
			res.Duplicates = append(res.Duplicates, e.ID)
			continue
		}
		m.ids[e.ID] = true
		m.streams[stream] = append(m.streams[stream], domain.RecordedEvent{ID: e.ID, StreamID: stream,
			StreamVersion: int64(len(m.streams[stream])), Type: e.Type, Data: e.Data})
	}
	res.NextVersion = int64(len(m.streams[stream])) - 1
	return res, nil
}

func (m *memStore) ReadStream(_ context.Context, stream string) ([]domain.RecordedEvent, error) {
	return m.streams[stream], nil
}

func TestSetAlertRule_AnOperatorSetsARuleOnAKnownStation(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	app := NewApplication(store, func() time.Time { return now }, domain.TelemetryPolicy{})
	admin := Caller{Admin: true}
	if _, err := app.RegisterStation.Handle(ctx, &RegisterStation{Caller: admin, ID: "s1",
		Profile: domain.StationProfile{Name: "s1", Location: domain.Location{Lat: 1, Lon: 2}}, TokenHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	cmd := &SetAlertRule{Caller: admin, DeviceID: "s1", Rule: "pm25-high", Type: "pm25", Above: 35, For: 10 * time.Minute}
	if _, err := app.SetAlertRule.Handle(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	recs := store.streams[domain.AlertStream("s1")]
	if len(recs) != 1 {
		t.Fatalf("alert stream holds %d events", len(recs))
	}
	e, err := recs[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if set := e.(domain.AlertRuleSet); set.Above != 35 || set.For != 10*time.Minute || set.Type != "pm25" {
		t.Fatalf("stored %+v", set)
	}

	if _, err := app.SetAlertRule.Handle(ctx, &SetAlertRule{Caller: Caller{}, DeviceID: "s1", Rule: "x", Type: "pm25"}); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("anonymous caller: %v", err)
	}
	missing := *cmd
	missing.DeviceID = "nope"
	if _, err := app.SetAlertRule.Handle(ctx, &missing); !errors.Is(err, domain.ErrDeviceNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	bad := *cmd
	bad.Rule = ""
	if _, err := app.SetAlertRule.Handle(ctx, &bad); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("invalid rule: %v", err)
	}
}
