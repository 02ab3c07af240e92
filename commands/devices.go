package commands

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

// devices loads device state from the event store and appends to device
// streams; caller.go checks who may act on a device.
type devices struct{ store EventStore }

func (d devices) load(ctx context.Context, id string) (*domain.Device, error) {
	if domain.ValidateDeviceID("id", id) != nil {
		// No device was registered under it, and the store need not be
		// asked: PostgreSQL text cannot even hold some such ids (NUL).
		return nil, fmt.Errorf("device %q: %w", id, domain.ErrDeviceNotFound)
	}
	recs, err := d.store.ReadStream(ctx, domain.DeviceStream(id))
	if err != nil {
		return nil, fmt.Errorf("load device %q: %w", id, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("device %q: %w", id, domain.ErrDeviceNotFound)
	}
	events := make([]domain.Event, 0, len(recs))
	for _, r := range recs {
		e, err := r.Decode()
		if err != nil {
			return nil, fmt.Errorf("load device %q: %w", id, err)
		}
		events = append(events, e)
	}
	return domain.DeviceFromHistory(events, recs[len(recs)-1].StreamVersion)
}

func (d devices) appendOne(ctx context.Context, id string, expected int64, e domain.Event) (int64, error) {
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return 0, err
	}
	res, err := d.store.Append(ctx, domain.DeviceStream(id), expected, []domain.EventData{data})
	if err != nil {
		return 0, err
	}
	return res.NextVersion, nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }
