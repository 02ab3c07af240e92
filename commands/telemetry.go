package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

// telemetryNamespace scopes telemetry event ids: the event id of a
// measurement is derived from (device, client id), so a retry with the same
// id is the same event and one device's ids never collide with another's.
var telemetryNamespace = uuid.MustParse("6f0b1f38-3f5c-4b43-9d7a-6a4f0d1e2c55")

func telemetryEventID(deviceID, itemID string) string {
	return uuid.NewSHA1(telemetryNamespace, []byte(deviceID+"/"+itemID)).String()
}

// telemetry is what both telemetry handlers hold.
type telemetry struct {
	devices devices
	clock   func() time.Time
	policy  domain.TelemetryPolicy
}

// recordTelemetry appends a batch of telemetry items of one device, the
// part RecordMeasurements and RecordVehicleEvents share. The caller must be
// an operator or the device itself, the device a live one of kind, and the
// whole batch valid (validate; one bad item refuses it all). It reads only
// the short device stream, never the telemetry already recorded.
//
// clientID points at an item's client id, filled in with a new id where the
// device sent none; the item is stored under an event id derived from the
// device and that client id, so a repeated item is counted as a duplicate
// and not stored again. The client ids are returned in batch order.
func recordTelemetry[T any, E domain.Event](ctx context.Context, t telemetry, c Caller, deviceID string, kind domain.DeviceKind,
	items []T, validate func(domain.TelemetryPolicy, []T, time.Time) error, clientID func(*T) *string, recorded func(T, string) E,
) (Outcome, []string, error) {
	dev, err := t.devices.loadForWrite(ctx, c, deviceID)
	if err != nil {
		return Outcome{}, nil, err
	}
	if err := dev.AcceptsTelemetry(kind); err != nil {
		return Outcome{}, nil, err
	}
	if err := validate(t.policy, items, t.clock()); err != nil {
		return Outcome{}, nil, err
	}
	events := make([]domain.EventData, len(items))
	ids := make([]string, len(items))
	for i, item := range items {
		id := clientID(&item)
		if *id == "" {
			*id = newID()
		}
		ids[i] = *id
		data, err := domain.NewEventData(telemetryEventID(dev.ID(), *id), recorded(item, dev.ID()))
		if err != nil {
			return Outcome{}, nil, err
		}
		events[i] = data
	}
	res, err := t.devices.store.Append(ctx, domain.TelemetryStream(dev.ID()), domain.AnyVersion, events)
	if err != nil {
		return Outcome{}, nil, err
	}
	return Outcome{ID: dev.ID(), Version: res.NextVersion, Accepted: len(events) - len(res.Duplicates), Duplicates: len(res.Duplicates)}, ids, nil
}
