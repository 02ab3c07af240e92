package commands

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

func telemetryEventID(deviceID, itemID string) string {
	return domain.TelemetryItemKey(deviceID, itemID)
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
// device sent none; the whole batch is one event, and each item is keyed by
// the device and that client id (domain.TelemetryItemKey), so a repeated
// item is counted as a duplicate and not stored again. The client ids are
// returned in batch order.
func recordTelemetry[T any, E domain.TelemetryBatch](ctx context.Context, t telemetry, c Caller, deviceID string, kind domain.DeviceKind,
	items []T, validate func(domain.TelemetryPolicy, []T, time.Time) error, clientID func(*T) *string, recorded func(string, []T) E,
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
	withIDs := make([]T, len(items))
	ids := make([]string, len(items))
	for i, item := range items {
		id := clientID(&item)
		if *id == "" {
			*id = newID()
		}
		ids[i] = *id
		withIDs[i] = item
	}
	res, err := t.devices.store.AppendTelemetry(ctx, domain.TelemetryStream(dev.ID()), newID(), recorded(dev.ID(), withIDs))
	if err != nil {
		return Outcome{}, nil, err
	}
	return Outcome{ID: dev.ID(), Version: res.NextVersion, Accepted: len(items) - len(res.Duplicates), Duplicates: len(res.Duplicates)}, ids, nil
}
